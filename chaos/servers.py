"""Private PostgreSQL, Redis and RabbitMQ servers for the chaos suite, on free ports.

The suite stops and restarts its servers. The shared ones on the default ports serve
everyone else's tests, so it never touches them: each run starts its own cluster
(``initdb`` into a temp dir, trust auth), its own ``redis-server`` and its own RabbitMQ
node (``chaos-<pid>@localhost``, own mnesia, logs, plugins file and Erlang cookie), and
removes them when it ends. Needs the Debian packages ``postgresql``, ``redis-server`` and
``rabbitmq-server`` (binaries only; their system services may be stopped).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path


class MissingBinary(RuntimeError):
    """A server binary is not installed; the message says which Debian package provides it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2) -> float:
    """Poll ``predicate`` until it is true; return the seconds it took, or raise TimeoutError."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what} not within {timeout:.0f}s")
        time.sleep(interval)
    return time.monotonic() - started


def _kill_group(popen: subprocess.Popen | None, sig=signal.SIGKILL) -> None:
    if popen is not None and popen.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=10)


def _pg_bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: [int(x) for x in p.split("/")[4:5]])
    if not found:
        raise MissingBinary("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    return Path(found[-1]).parent


class PrivatePostgres:
    """A throw-away PostgreSQL cluster. As root it runs as the ``postgres`` user (PostgreSQL
    refuses to run as root)."""

    name = "postgresql"

    def __init__(self, base: Path):
        self.bindir = _pg_bindir()
        self.base = base / "postgres"
        self.data = self.base / "data"
        self.port = free_port()
        self.log = base / "postgres.log"
        self._as: list[str] = []
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise MissingBinary("running as root needs the 'postgres' user (apt-get install postgresql)") from None
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def database_url(self, role: str, database: str) -> str:
        return f"postgres://{role}:{role}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 120) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, timeout=timeout)

    def start(self) -> None:
        if not self.data.exists():
            self.base.mkdir(parents=True, exist_ok=True)
            self.log.touch()
            if self._as:
                shutil.chown(self.base, "postgres")
                shutil.chown(self.log, "postgres")
            self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError):
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", timeout=60)

    def cleanup(self) -> None:
        self.stop("immediate")


class PrivateRedis:
    name = "redis"

    def __init__(self, base: Path):
        self.binary = shutil.which("redis-server")
        if not self.binary:
            raise MissingBinary("redis-server not found: apt-get install redis-server")
        self.dir = base / "redis"
        self.port = free_port()
        self.log = base / "redis.log"
        self.popen: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.popen = subprocess.Popen(
                [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir)]
                + ["--save", "", "--appendonly", "no", "--daemonize", "no"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(lambda: port_open(self.port), 30, "redis-server listening")

    def stop(self) -> None:
        _kill_group(self.popen, signal.SIGTERM)
        _kill_group(self.popen)

    def cleanup(self) -> None:
        self.stop()


class PrivateRabbitMQ:
    """A RabbitMQ node of its own. Shares the machine's epmd (which only maps node names to
    ports) and nothing else with the system node."""

    name = "rabbitmq"

    def __init__(self, base: Path):
        bindir = Path("/usr/lib/rabbitmq/bin")
        self.server = bindir / "rabbitmq-server"
        self.ctl = bindir / "rabbitmqctl"
        if not self.server.exists():
            found = shutil.which("rabbitmq-server")
            if not found:
                raise MissingBinary("rabbitmq-server not found: apt-get install rabbitmq-server")
            # Not the Debian wrapper in /usr/sbin (it switches to the rabbitmq user): the real scripts.
            self.server, self.ctl = Path(found), Path(shutil.which("rabbitmqctl") or "rabbitmqctl")
        self.base = base / "rabbitmq"
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"chaos-{os.getpid()}@localhost"
        self.log = base / "rabbitmq.log"
        self.popen: subprocess.Popen | None = None

    def url(self, vhost: str) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{vhost}"

    @property
    def env(self) -> dict[str, str]:
        home = self.base / "home"  # its own Erlang cookie, used by the server and rabbitmqctl
        return {
            **os.environ,
            "HOME": str(home),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),  # not /etc's (its NODENAME)
            "RABBITMQ_PID_FILE": str(self.base / "rabbitmq.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def start(self) -> None:
        if not self.base.exists():
            for sub in ("home", "mnesia", "log"):
                (self.base / sub).mkdir(parents=True, exist_ok=True)
            (self.base / "enabled_plugins").write_text("[].\n")
            (self.base / "rabbitmq.conf").write_text("loopback_users = none\n")
            (self.base / "rabbitmq-env.conf").write_text("")
        with open(self.log, "ab") as log:
            self.popen = subprocess.Popen(
                [str(self.server)], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

        def up() -> bool:
            if self.popen.poll() is not None:
                raise RuntimeError(f"RabbitMQ node {self.node} exited at start; see {self.log}")
            return port_open(self.port)

        wait_until(up, 120, f"RabbitMQ node {self.node} listening", interval=0.3)

    def ctl_run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.ctl), "-n", self.node, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def add_vhost(self, vhost: str) -> None:
        self.ctl_run("add_vhost", vhost)
        result = self.ctl_run("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl set_permissions failed: {result.stderr or result.stdout}")

    def stop(self) -> None:
        """A clean stop of the whole node (as an operator's ``rabbitmqctl stop``)."""
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(subprocess.SubprocessError):
            self.ctl_run("stop", timeout=60)
        try:
            self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _kill_group(self.popen)

    def cleanup(self) -> None:
        _kill_group(self.popen)
