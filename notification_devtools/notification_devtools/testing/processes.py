"""Services a test or benchmark starts itself: gunicorn on a free port, and waiting for it."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import requests

GUNICORN = [sys.executable, "-m", "gunicorn", "-c", "python:notification_common.gunicorn_conf"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn_serving(
    *, cwd, env: dict, what: str, wsgi: str = "config.wsgi", workers: int = 1, threads: int = 4, timeout: float = 30
) -> Iterator[str]:
    """Run ``wsgi`` under gunicorn with the platform's configuration (as production does) on
    a free loopback port; yield its URL once it answers; stop it afterwards."""
    port = free_port()
    process_env = {
        **os.environ,
        **env,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_THREADS": str(threads),
    }
    process = subprocess.Popen(
        [*GUNICORN, wsgi], cwd=cwd, env=process_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process, timeout=timeout, what=what)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_until_serving(
    url: str, process: subprocess.Popen | None = None, *, timeout: float = 30.0, what: str = "the service"
) -> None:
    """Poll ``{url}/api/v1/health/live/`` until it answers 200.

    Raises RuntimeError naming ``what`` when the process exits first or the time runs out.
    """
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before answering at {url}")
        try:
            if requests.get(f"{url}/api/v1/health/live/", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass  # not listening yet
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer at {url} within {timeout:.0f} s")
        time.sleep(0.1)


def kill_9_when(command: list[str], event, *, cwd, env: dict[str, str], timeout: float, what: str) -> None:
    """Start ``command`` (a real worker), wait until ``event`` is set (by a loopback server that
    holds its answer), then kill the process -9. Fails with the process's output if the event
    does not come (or the process exited first); never leaves the process running."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        happened = event.wait(timeout)
        assert happened, process.stdout.read().decode() if process.poll() is not None else f"no {what}"
        process.kill()  # SIGKILL
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
