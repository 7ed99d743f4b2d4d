"""API key check latency: POST /api/v1/admin/api-keys/verify/ on the admin service.

This is what another service pays on a cache miss of its Redis verdict (a hit costs one
Redis GET in its own process). The admin service runs under gunicorn exactly as in
production (``notification_common.gunicorn_conf``) on a free port, on the development
database ``admin_db`` (migrated first) and Redis db 12. The bench creates an admin account
and a key through the public interfaces (``createadmin``, login, ``POST api-keys/``), checks
that key ``--requests`` times one at a time (latency), then from ``--threads`` threads
(throughput), and removes the account and the key afterwards.

    .venv/bin/python bench/admin_key_verify.py [--requests 2000] [--threads 4]
"""

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
# The services default to production and refuse the dev defaults there (docs/operations.md).
os.environ.setdefault("ENVIRONMENT", "development")
SERVICE_DIR = ROOT / "admin_service"
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
DEFAULT_INTERNAL_KEY = "dev-internal-key-change-me"
BENCH_REDIS_URL = "redis://127.0.0.1:6379/12"
VERIFY_PATH = "/api/v1/admin/api-keys/verify/"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(*args: str, env: dict) -> str:
    result = subprocess.run(
        [str(PYTHON), "manage.py", *args], cwd=SERVICE_DIR, env=env, capture_output=True, text=True, check=True
    )
    return result.stdout


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def start_service(env: dict, port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [str(GUNICORN), "-c", "python:notification_common.gunicorn_conf", "config.wsgi"],
        cwd=SERVICE_DIR,
        env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health/live/", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("the admin service did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--internal-key", default=os.environ.get("SERVICE_API_KEY", DEFAULT_INTERNAL_KEY))
    args = parser.parse_args()

    env = {**os.environ, "REDIS_URL": BENCH_REDIS_URL, "DJANGO_SETTINGS_MODULE": "config.settings"}
    manage("migrate", "--noinput", "-v", "0", env=env)
    username, password = f"bench-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    manage("createadmin", "--noinput", "--username", username, "--email", f"{username}@bench.invalid",
           "--password", password, env=env)  # fmt: skip
    port = free_port()
    process = start_service(env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            tokens = client.post("/api/v1/admin/login/", json={"username": username, "password": password})
            tokens.raise_for_status()
            admin = {"Authorization": f"Bearer {tokens.json()['data']['access']}"}
            created = client.post(
                "/api/v1/admin/api-keys/", json={"name": "bench", "scopes": ["internal"]}, headers=admin
            )
            created.raise_for_status()
            raw, key_id = created.json()["data"]["key"], created.json()["data"]["id"]
            caller = {"X-API-Key": args.internal_key}

            for _ in range(50):  # warm-up: connections, caches of the caller's own key
                client.post(VERIFY_PATH, json={"key": raw}, headers=caller).raise_for_status()
            latencies = []
            for _ in range(args.requests):
                started = time.perf_counter()
                response = client.post(VERIFY_PATH, json={"key": raw}, headers=caller)
                latencies.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text
            ms = [
                round(x, 2)
                for x in (statistics.median(latencies), percentile(latencies, 95), percentile(latencies, 99))
            ]
            print(f"verify (sequential, {args.requests} requests): median {ms[0]} ms, p95 {ms[1]} ms, p99 {ms[2]} ms")

            done, errors, lock = [0], [0], threading.Lock()
            per_thread = max(1, args.requests // args.threads)

            def worker():
                with httpx.Client(base_url=base, timeout=10) as own:
                    for _ in range(per_thread):
                        ok = own.post(VERIFY_PATH, json={"key": raw}, headers=caller).status_code == 200
                        with lock:
                            done[0] += ok
                            errors[0] += not ok

            threads = [threading.Thread(target=worker) for _ in range(args.threads)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            print(f"verify ({args.threads} threads): {done[0] / elapsed:.0f} requests/s, {errors[0]} errors")
            client.post(f"/api/v1/admin/api-keys/{key_id}/revoke/", headers=admin)
    finally:
        process.terminate()
        process.wait(timeout=15)
        manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model; from platform_admin.models import ApiKey; "
            f"ApiKey.objects.filter(name='bench', created_by__username='{username}').delete(); "
            f"get_user_model().objects.filter(username='{username}').delete()",
            env=env,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
