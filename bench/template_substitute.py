"""Latency of POST /api/v1/templates/substitute/ for a cached active version.

Migrates the dev database ``template_db``, starts the template service under gunicorn (the
production command) on a free port, creates a template through the API with the internal
key, warms the caches, then times N sequential substitute calls over one keep-alive
connection and prints median/p95/p99 and requests per second. Target: median < 5 ms.

    .venv/bin/python bench/template_substitute.py [--requests 3000] [--workers 2] [--threads 1]

API keys are checked against the bootstrap keys (ADMIN_SERVICE_URL is emptied for the run),
so the figure does not depend on the admin service; the verdict is cached in Redis either way.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from notification_devtools.testing.processes import wait_until_serving

ROOT = Path(__file__).resolve().parent.parent
# The services default to production and refuse the dev defaults there (docs/operations.md).
os.environ.setdefault("ENVIRONMENT", "development")
SERVICE_DIR = ROOT / "template_service"
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
DEFAULT_KEY = "dev-internal-key-change-me"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def wait_until_up(base_url: str, server: subprocess.Popen, timeout: float = 30) -> None:
    try:
        wait_until_serving(base_url, server, timeout=timeout, what="the template service")
    except RuntimeError as exc:
        raise SystemExit(str(exc)) from None


def create_template(client: httpx.Client, code: str) -> None:
    body = {
        "code": code,
        "channel": "email",
        "default_language": "en",
        "description": "bench/template_substitute.py",
        "versions": [
            {
                "language": language,
                "subject": f"[{language}] Order {{{{ order_id }}}} for {{{{ name }}}}",
                "text_body": "Hi {{ name }},\n\nyour order {{ order_id }} is {{ status }}.\nTrack it: {{ link }}\n" * 5,
                "html_body": "<p>Hi {{ name }}, your order <b>{{ order_id }}</b> is {{ status }}. "
                "<a href='{{ link }}'>Track it</a></p>" * 5,
            }
            for language in ("en", "pt")
        ],
    }
    response = client.post("/api/v1/templates/", json=body)
    if response.status_code != 201:
        raise SystemExit(f"creating the template failed: {response.status_code} {response.text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="timed substitute calls")
    parser.add_argument("--warmup", type=int, default=200, help="untimed calls first (fill every worker's caches)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (GUNICORN_WORKERS)")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads; >1 selects the gthread worker")
    parser.add_argument("--language", default="pt-BR", help="requested language (pt-BR exercises the fallback)")
    args = parser.parse_args()

    env = {
        **os.environ,
        "GUNICORN_BIND": f"127.0.0.1:{free_port()}",
        "GUNICORN_WORKERS": str(args.workers),
        "GUNICORN_THREADS": str(args.threads),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
        "ADMIN_SERVICE_URL": "",
    }
    key = env.get("SERVICE_API_KEY", DEFAULT_KEY)
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=SERVICE_DIR, env=env, check=True)
    server = subprocess.Popen(
        [GUNICORN, "-c", "python:notification_common.gunicorn_conf", "config.wsgi"], cwd=SERVICE_DIR, env=env
    )
    base_url = f"http://{env['GUNICORN_BIND']}"
    code = f"bench-substitute-{uuid.uuid4().hex[:8]}"
    try:
        wait_until_up(base_url, server)
        with httpx.Client(base_url=base_url, headers={"X-API-Key": key}, timeout=10) as client:
            create_template(client, code)
            body = {
                "template_code": code,
                "language": args.language,
                "variables": {"name": "Ada <Lovelace>", "order_id": 1042, "status": "shipped", "link": "https://x"},
            }
            for _ in range(args.warmup):
                client.post("/api/v1/templates/substitute/", json=body).raise_for_status()

            latencies = []
            started = time.perf_counter()
            for _ in range(args.requests):
                sent = time.perf_counter()
                response = client.post("/api/v1/templates/substitute/", json=body)
                latencies.append((time.perf_counter() - sent) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"substitute failed: {response.status_code} {response.text}")
            elapsed = time.perf_counter() - started
            client.delete(f"/api/v1/templates/{code}/")
    finally:
        server.terminate()
        server.wait(timeout=30)

    latencies.sort()
    median = statistics.median(latencies)
    print(f"template substitute, cached active version ({args.requests} sequential calls, one keep-alive client)")
    print(f"gunicorn: {args.workers} worker(s) x {args.threads} thread(s); requested language {args.language}")
    print(
        f"median {median:.2f} ms  p95 {percentile(latencies, 0.95):.2f} ms  p99 {percentile(latencies, 0.99):.2f} ms"
        f"  max {latencies[-1]:.2f} ms"
    )
    print(f"throughput {args.requests / elapsed:.0f} req/s")
    print(f"target median < 5 ms: {'met' if median < 5 else 'NOT met'}")
    sys.exit(0 if median < 5 else 1)


if __name__ == "__main__":
    main()
