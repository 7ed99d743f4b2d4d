"""Start the whole platform on free ports, the way production runs it, for e2e tests and benchmarks.

Six services under gunicorn (``notification_common.gunicorn_conf``, the containers' command),
the email and push consumers, the outbox relay, the dead-letter consumer, and the loopback
SMTP and FCM servers, all as child processes against the real PostgreSQL, Redis and
RabbitMQ. Each run gets its own databases (``e2e_<db>``, kept between runs and migrated),
RabbitMQ vhost (``notifications_e2e``, or ``notifications_e2e_quorum`` with
``RABBITMQ_QUEUE_TYPE=quorum``; purged) and Redis database (14, flushed).

Used by ``e2e/conftest.py`` and ``bench/run.py``::

    with launch() as platform:
        platform.url("gateway"), platform.smtp_api, platform.fcm_url, ...
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"

# A vhost holds classic or quorum queues, never both: a quorum run (RABBITMQ_QUEUE_TYPE=quorum,
# `make test-e2e-quorum`) gets a vhost of its own unless E2E_RABBITMQ_VHOST names one.
E2E_VHOST = os.environ.get("E2E_RABBITMQ_VHOST") or (
    "notifications_e2e_quorum"
    if os.environ.get("RABBITMQ_QUEUE_TYPE", "").strip().lower() == "quorum"
    else "notifications_e2e"
)
E2E_REDIS_DB = 14
INTERNAL_KEY = "e2e-internal-key"
SENDER_KEY = "e2e-sender-key"


@dataclass(frozen=True)
class Service:
    name: str  # short name used in URLs and log files
    directory: str
    db_env: str
    db_name: str
    url_env: str  # the variable other services read to find this one


SERVICES = (
    Service("gateway", "api_gateway_service", "GATEWAY_DATABASE_URL", "api_gateway_db", "GATEWAY_SERVICE_URL"),
    Service("users", "user_service", "USER_DATABASE_URL", "user_db", "USER_SERVICE_URL"),
    Service("templates", "template_service", "TEMPLATE_DATABASE_URL", "template_db", "TEMPLATE_SERVICE_URL"),
    Service("email", "email_service", "EMAIL_DATABASE_URL", "email_db", "EMAIL_SERVICE_URL"),
    Service("push", "push_service", "PUSH_DATABASE_URL", "push_db", "PUSH_SERVICE_URL"),
    Service("admin", "admin_service", "ADMIN_DATABASE_URL", "admin_db", "ADMIN_SERVICE_URL"),
)
BY_NAME = {s.name: s for s in SERVICES}

# (log name, service directory, manage.py command): the long-running workers.
WORKERS = (
    ("email-worker", "email_service", "consume_emails"),
    ("push-worker", "push_service", "consume_push"),
    ("outbox-relay", "api_gateway_service", "relay_outbox"),
    ("webhook-dispatcher", "api_gateway_service", "dispatch_webhooks"),
    ("dead-letter-consumer", "admin_service", "consume_dead_letters"),
)

# Short retry delays and circuit timeouts so failure scenarios settle in seconds, not minutes.
FAST_FAILURE_TUNING = {
    "EMAIL_RETRY_BASE_SECONDS": "0.5",
    "EMAIL_RETRY_MAX_SECONDS": "2",
    "EMAIL_MAX_ATTEMPTS": "8",
    "EMAIL_SMTP_BREAKER_RESET_SECONDS": "1",
    "SMTP_TIMEOUT": "3",
    "PUSH_RETRY_BASE_SECONDS": "0.5",
    "PUSH_RETRY_MAX_SECONDS": "2",
    "PUSH_MAX_ATTEMPTS": "5",
    "FCM_CIRCUIT_RESET_SECONDS": "1",
    "CIRCUIT_RESET_SECONDS": "2",
    "API_KEY_CACHE_SECONDS": "5",
    "USER_CACHE_SECONDS": "2",
    "OUTBOX_RELAY_INTERVAL_SECONDS": "0.2",
    "WEBHOOK_POLL_INTERVAL_SECONDS": "0.2",
    "WEBHOOK_STATUS_SETTLE_SECONDS": "0.5",
    "WEBHOOK_RETRY_BASE_SECONDS": "0.5",
    "WEBHOOK_RETRY_MAX_SECONDS": "2",
}


class LaunchError(RuntimeError):
    """The platform did not come up; the message carries the failing process's log tail."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- processes
@dataclass
class Process:
    name: str
    args: list[str]
    cwd: Path
    log_path: Path
    popen: subprocess.Popen | None = None
    env: dict[str, str] | None = None  # as last started: a supervisor restarts it the same way
    starts: int = 0

    def start(self, env: dict[str, str]) -> Process:
        self.env = env
        self.starts += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it; closed on stop
        # A session of its own: signals reach gunicorn's workers too, and nothing else.
        self.popen = subprocess.Popen(
            self.args, cwd=self.cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, sig)

    def stop(self, grace_seconds: float = 15) -> None:
        """SIGTERM (a worker finishes the message in hand), SIGKILL after the grace."""
        if not self.alive:
            return
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait(timeout=5)

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no output)"
        # Long JSON lines (tracebacks inside) are cut: the tail is for orientation, the file has all.
        return "\n".join(line[:400] for line in text.splitlines()[-lines:]) or "(no output)"


@dataclass
class Platform:
    """A running platform: URLs, keys, the loopback servers, and the processes with their logs."""

    workdir: Path
    env: dict[str, str]
    ports: dict[str, int]
    smtp_port: int
    smtp_api: str
    fcm_url: str
    processes: list[Process] = field(default_factory=list)
    internal_key: str = INTERNAL_KEY
    sender_key: str = SENDER_KEY
    keep_logs: bool = False  # set when something failed, so the logs outlive the run

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def process(self, name: str) -> Process:
        return next(p for p in self.processes if p.name == name)

    def logs(self, lines: int = 30) -> str:
        return "\n".join(f"----- {p.name} ({p.log_path})\n{p.tail(lines)}" for p in self.processes)

    def dead(self) -> list[Process]:
        return [p for p in self.processes if not p.alive]

    def start_copy(self, name: str, env: dict[str, str] | None = None) -> Process:
        """Start one more process like ``name``, named ``<name>-<n>``: a worker shares its queue
        with the others; a service gets a port of its own (``url("gateway-2")``) over the same
        database. ``env`` adds to the original's environment. :meth:`stop` ends it with the
        rest; :meth:`stop_copy` earlier."""
        original = self.process(name)
        n = 2
        while any(p.name == f"{name}-{n}" for p in self.processes):
            n += 1
        copy_name = f"{name}-{n}"
        env = {**(original.env or self.env), **(env or {})}
        if name in BY_NAME:
            self.ports[copy_name] = port = free_port()
            env.update({"GUNICORN_BIND": f"127.0.0.1:{port}", "PORT": str(port)})
        copy = Process(copy_name, list(original.args), original.cwd, self.workdir / f"{copy_name}.log")
        self.processes.append(copy.start(env))
        return copy

    def stop_copy(self, copy: Process, grace_seconds: float = 15) -> None:
        copy.stop(grace_seconds)
        self.processes.remove(copy)
        self.ports.pop(copy.name, None)

    def manage(self, directory: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run ``manage.py`` of a service with the platform's environment (e.g. createadmin)."""
        return subprocess.run(
            [str(PYTHON), "manage.py", *args],
            cwd=ROOT / directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def stop(self, grace_seconds: float = 15) -> None:
        """SIGTERM every process (workers finish the message in hand), SIGKILL what remains."""
        for process in self.processes:
            if process.alive:
                process.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        for process in self.processes:
            if process.popen is None:
                continue
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.signal(signal.SIGKILL)
                process.popen.wait(timeout=5)


# --------------------------------------------------------------------------- infrastructure
def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def _service_database_url(service: Service) -> str:
    default = f"postgres://{service.directory}:{service.directory}@127.0.0.1:5432/{service.db_name}"
    return _with_database(os.environ.get(service.db_env, default), f"e2e_{service.db_name}")


def prepare_databases(admin_url: str) -> None:
    """Create ``e2e_<db>`` for each service, owned by the service's role (kept between runs)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        for service in SERVICES:
            url = urlsplit(_service_database_url(service))
            role, password, database = url.username, url.password or url.username, url.path.lstrip("/")
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                        sql.Identifier(role), sql.Literal(password)
                    )
                )
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(role))
                )


def prepare_broker(url: str) -> None:
    """The e2e vhost with the topology declared and every queue empty."""
    from notification_common.rabbitmq import all_queues, connect, declare_topology_from_url
    from notification_common.vhosts import ensure_vhost

    ensure_vhost(url)
    declare_topology_from_url(url)
    connection = connect(url)
    try:
        channel = connection.channel()
        for queue in all_queues():
            channel.queue_purge(queue)
    finally:
        connection.close()


def prepare_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def _replace_vhost(url: str, vhost: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{vhost}", parts.query, parts.fragment))


def _replace_redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


# --------------------------------------------------------------------------- launch
def build_env(
    workdir: Path,
    ports: dict[str, int],
    smtp_port: int,
    fcm_port: int,
    extra: dict[str, str],
    tuning: dict[str, str] | None = None,
) -> dict:
    from notification_common.conf import DEFAULT_RABBITMQ_URL, DEFAULT_REDIS_URL
    from notification_common.keys import ensure_dev_keypair

    keys = workdir / "keys"
    ensure_dev_keypair(keys / "jwt_private.pem", keys / "jwt_public.pem")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GUNICORN_", "PROMETHEUS_", "PYTEST_", "DJANGO_SETTINGS"))
    }
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            # Dev keys and plain HTTP: production would refuse both (notification_common.checks).
            "ENVIRONMENT": "test",
            # The suites register many users from 127.0.0.1; the limit has its own tests.
            "USER_REGISTRATION_RATE_LIMIT": "0",
            "DJANGO_DEBUG": "false",
            "LOG_LEVEL": os.environ.get("E2E_LOG_LEVEL", "INFO"),
            "RABBITMQ_URL": _replace_vhost(os.environ.get("RABBITMQ_URL", DEFAULT_RABBITMQ_URL), E2E_VHOST),
            "REDIS_URL": _replace_redis_db(os.environ.get("REDIS_URL", DEFAULT_REDIS_URL), E2E_REDIS_DB),
            "JWT_PRIVATE_KEY_PATH": str(keys / "jwt_private.pem"),
            "JWT_PUBLIC_KEY_PATH": str(keys / "jwt_public.pem"),
            "JWT_PUBLIC_KEY": "",
            "SERVICE_API_KEY": INTERNAL_KEY,
            "BOOTSTRAP_API_KEYS": f"{INTERNAL_KEY}=internal;{SENDER_KEY}=notifications:send",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "SMTP_USERNAME": "",
            "SMTP_PASSWORD": "",
            "SMTP_USE_TLS": "false",
            "SMTP_USE_SSL": "false",
            "FIREBASE_SERVICE_ACCOUNT_PATH": str(workdir / "fcm-service-account.json"),
            "FCM_ENDPOINT": f"http://127.0.0.1:{fcm_port}",
            "STATIC_ROOT": str(workdir / "static"),
            "GUNICORN_WORKERS": "2",
        }
    )
    for service in SERVICES:
        env[service.db_env] = _service_database_url(service)
        env[service.url_env] = f"http://127.0.0.1:{ports[service.name]}"
    # The base of the emails' one-click unsubscribe links: this run's user service.
    env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{ports['users']}"
    env.update(FAST_FAILURE_TUNING if tuning is None else tuning)
    env.update(extra)
    return env


def migrate(env: dict[str, str], workdir: Path) -> None:
    running = []
    for service in SERVICES:
        log = workdir / f"migrate-{service.name}.log"
        with open(log, "wb") as fh:
            running.append(
                (
                    service,
                    log,
                    subprocess.Popen(
                        [str(PYTHON), "manage.py", "migrate", "--noinput", "-v", "0"],
                        cwd=ROOT / service.directory,
                        env=env,
                        stdout=fh,
                        stderr=subprocess.STDOUT,
                    ),
                )
            )
    failures = []
    for service, log, popen in running:
        if popen.wait(timeout=180) != 0:
            failures.append(f"----- migrate {service.directory}\n{log.read_text(errors='replace')[-3000:]}")
    if failures:
        raise LaunchError("migrations failed:\n" + "\n".join(failures))


def _wait_healthy(platform: Platform, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = {s.name for s in SERVICES}
    last: dict[str, str] = {}
    with httpx.Client(timeout=3) as client:
        while pending:
            dead = platform.dead()
            if dead:
                raise LaunchError(
                    "process exited during start-up: "
                    + ", ".join(p.name for p in dead)
                    + "\n"
                    + "\n".join(f"----- {p.name}\n{p.tail(60)}" for p in dead)
                )
            for name in sorted(pending):
                try:
                    response = client.get(f"{platform.url(name)}/api/v1/health/")
                    last[name] = f"{response.status_code} {response.text[:300]}"
                    if response.status_code == 200:
                        pending.discard(name)
                except httpx.HTTPError as exc:
                    last[name] = f"{type(exc).__name__}: {exc}"
            if not pending:
                break
            if time.monotonic() > deadline:
                details = "\n".join(
                    f"----- {name}: last answer {last.get(name)}\n{platform.process(name).tail(15)}"
                    for name in sorted(pending)
                )
                raise LaunchError(f"not healthy after {timeout:.0f}s: {', '.join(sorted(pending))}\n{details}")
            time.sleep(0.25)


def _wait_loopbacks(platform: Platform, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    targets = {"loopback-smtp": f"{platform.smtp_api}/health", "loopback-fcm": f"{platform.fcm_url}/_loopback/health"}
    with httpx.Client(timeout=2) as client:
        while targets:
            for name, url in list(targets.items()):
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(url).status_code == 200:
                        del targets[name]
            if not targets:
                return
            dead = [p for p in platform.dead() if p.name in targets]
            if dead or time.monotonic() > deadline:
                names = ", ".join(targets)
                raise LaunchError(
                    f"loopback server(s) not up: {names}\n"
                    + "\n".join(f"----- {n}\n{platform.process(n).tail(40)}" for n in targets)
                )
            time.sleep(0.1)
    # The push worker reads the service-account file the FCM server writes at start.
    account = Path(platform.env["FIREBASE_SERVICE_ACCOUNT_PATH"])
    while not account.exists():
        if time.monotonic() > deadline:
            raise LaunchError(f"loopback FCM did not write {account}")
        time.sleep(0.05)


# (host, SMTP port, HTTP API port) -> the command of the process "loopback-smtp".
SMTPCommand = Callable[[str, int, int], list[str]]


def loopback_smtp_command(host: str, smtp_port: int, http_port: int) -> list[str]:
    """The Python loopback SMTP server (notification_devtools.loopback.smtp): the e2e suite's
    and ``make dev``'s, with the failure scripts (``POST /control``) the scenarios use."""
    module = [str(PYTHON), "-m", "notification_devtools.loopback.smtp"]
    return module + ["--host", host, "--port", str(smtp_port), "--http-port", str(http_port)]


@contextlib.contextmanager
def launch(
    *,
    extra_env: dict[str, str] | None = None,
    health_timeout: float = 90,
    keep_logs: bool = False,
    log_dir: str | os.PathLike | None = None,
    replicas: dict[str, int] | None = None,
    exclusive: bool = True,
    access_log: bool = False,
    failure_tuning: dict[str, str] | None = None,
    smtp_command: SMTPCommand | None = None,
) -> Iterator[Platform]:
    """Start everything, yield the :class:`Platform`, stop everything (even on errors).

    ``extra_env`` goes to every process. ``replicas`` runs several processes of a worker
    (e.g. ``{"email-worker": 2}``): consumers of one queue share it. ``exclusive=False``
    skips the machine-wide e2e lock, for a caller whose environment points every process at
    servers of its own (the chaos suite). ``access_log`` makes gunicorn log every request
    (with its status) to the service's log file. ``failure_tuning`` replaces
    :data:`FAST_FAILURE_TUNING` (``{}``: the product's own retry and circuit defaults).
    ``smtp_command`` gives the command of the process ``loopback-smtp`` (default
    :func:`loopback_smtp_command`, the Python server with its failure scripts; the benchmarks
    pass the compiled sink, ``bench/smtpsink``)."""
    with _exclusive_run() if exclusive else contextlib.nullcontext():
        yield from _launch(
            extra_env=extra_env,
            health_timeout=health_timeout,
            keep_logs=keep_logs,
            log_dir=log_dir,
            replicas=replicas,
            access_log=access_log,
            failure_tuning=failure_tuning,
            smtp_command=smtp_command or loopback_smtp_command,
        )


@contextlib.contextmanager
def _exclusive_run() -> Iterator[None]:
    """One e2e or bench run at a time on a machine: they share the e2e vhost, Redis db and
    databases, and each start purges the queues. A second run waits for the first."""
    import fcntl

    lock_path = ROOT / "var" / "e2e.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("e2e: another e2e or bench run is in progress; waiting for it", file=sys.stderr, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _launch(
    *, extra_env, health_timeout, keep_logs, log_dir, replicas, access_log=False, failure_tuning=None, smtp_command=None
) -> Iterator[Platform]:
    workdir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="notification-e2e-"))
    workdir.mkdir(parents=True, exist_ok=True)
    ports = {s.name: free_port() for s in SERVICES}
    smtp_port, smtp_http_port, fcm_port = free_port(), free_port(), free_port()
    env = build_env(workdir, ports, smtp_port, fcm_port, extra_env or {}, failure_tuning)

    platform = Platform(
        workdir=workdir,
        env=env,
        ports=ports,
        smtp_port=smtp_port,
        smtp_api=f"http://127.0.0.1:{smtp_http_port}",
        fcm_url=f"http://127.0.0.1:{fcm_port}",
    )
    python = str(PYTHON)
    loopbacks = [
        Process(
            "loopback-smtp",
            (smtp_command or loopback_smtp_command)("127.0.0.1", smtp_port, smtp_http_port),
            ROOT,
            workdir / "loopback-smtp.log",
        ),
        Process(
            "loopback-fcm",
            [python, "-m", "notification_devtools.loopback.fcm", "--host", "127.0.0.1", "--port", str(fcm_port)]
            + ["--write-service-account", env["FIREBASE_SERVICE_ACCOUNT_PATH"]],
            ROOT,
            workdir / "loopback-fcm.log",
        ),
    ]
    gunicorn = [str(GUNICORN), "-c", "python:notification_common.gunicorn_conf", "config.wsgi"]
    if access_log:  # command-line settings override the config module's accesslog = None
        gunicorn[1:1] = ["--access-logfile", "-"]
    services = [Process(s.name, gunicorn, ROOT / s.directory, workdir / f"{s.name}.log") for s in SERVICES]
    workers = [
        Process(
            name if n == 0 else f"{name}-{n + 1}",
            [python, "manage.py", command],
            ROOT / directory,
            workdir / (f"{name}.log" if n == 0 else f"{name}-{n + 1}.log"),
        )
        for name, directory, command in WORKERS
        for n in range((replicas or {}).get(name, 1))
    ]
    try:
        prepare_databases(os.environ.get("POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
        prepare_broker(env["RABBITMQ_URL"])
        prepare_redis(env["REDIS_URL"])
        migrate(env, workdir)
        for process in loopbacks:
            platform.processes.append(process.start(env))
        _wait_loopbacks(platform, timeout=30)
        for process in services:
            bind = f"127.0.0.1:{ports[process.name]}"
            platform.processes.append(process.start({**env, "GUNICORN_BIND": bind, "PORT": str(ports[process.name])}))
        # Workers start with the services: the email and push services report their
        # consumer's heartbeat in their health, so they are healthy only once it runs.
        for process in workers:
            platform.processes.append(process.start(env))
        _wait_healthy(platform, timeout=health_timeout)
        yield platform
    except Exception:
        platform.keep_logs = True
        raise
    finally:
        platform.stop()
        if platform.keep_logs or keep_logs or log_dir:
            print(f"e2e: process logs kept in {workdir}", file=sys.stderr)
        else:
            _remove_tree(workdir)


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    # Manual use: start everything and wait for Ctrl-C (logs stay in the printed directory).
    with launch(keep_logs=True) as running:
        print(f"logs in {running.workdir}", flush=True)
        for service in SERVICES:
            print(f"  {service.name:<10} {running.url(service.name)}", flush=True)
        print(f"  smtp       127.0.0.1:{running.smtp_port}  (API {running.smtp_api})", flush=True)
        print(f"  fcm        {running.fcm_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    sys.exit(0)
