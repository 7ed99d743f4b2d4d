"""Waiting for a service a test or benchmark started itself (gunicorn on a free port)."""

import subprocess
import time

import requests


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
