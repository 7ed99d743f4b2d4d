"""User lookup latency: GET /api/v1/users/{id}/ with an internal API key, 100,000 users.

    .venv/bin/python bench/user_lookup.py                 # own database + gunicorn on a free port
    .venv/bin/python bench/user_lookup.py --url http://127.0.0.1:8001 --database-url ...  # a running service

By default the users live in a dedicated database (``user_bench``, owned by the
``user_service`` role), created and migrated on the first run and reused afterwards, so
the development database stays clean; ``--drop`` removes it at the end. The service runs
under gunicorn exactly as in production (``notification_common.gunicorn_conf``). Requests
are sent one at a time (latency), then from several threads (throughput). Target: median
under 5 ms on this machine.
"""

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx
import psycopg
from psycopg import sql

from notification_devtools.testing.processes import wait_until_serving

ROOT = Path(__file__).resolve().parent.parent
# The services default to production and refuse the dev defaults there (docs/operations.md).
os.environ.setdefault("ENVIRONMENT", "development")
SERVICE_DIR = ROOT / "user_service"
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
DEFAULT_DATABASE_URL = "postgres://user_service:user_service@127.0.0.1:5432/user_bench"
DEFAULT_INTERNAL_KEY = "dev-internal-key-change-me"
LOOKUP_PATH = "/api/v1/users/{}/"


def log(message: str) -> None:
    print(message, flush=True)


def database_admin_url(database_url: str) -> str:
    # Connect to the role's maintenance database to create or drop the bench database.
    return urlunparse(urlparse(database_url)._replace(path="/postgres"))


def ensure_database(database_url: str) -> None:
    name = urlparse(database_url).path.lstrip("/")
    with psycopg.connect(database_admin_url(database_url), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            log(f"created database {name}")


def drop_database(database_url: str) -> None:
    name = urlparse(database_url).path.lstrip("/")
    with psycopg.connect(database_admin_url(database_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    log(f"dropped database {name}")


def service_env(database_url: str, **extra: str) -> dict:
    env = dict(os.environ)
    env.update(
        USER_DATABASE_URL=database_url,
        # The verdict for the internal key is then cached in Redis, as it is once the admin
        # service has answered; the figure does not depend on the admin service running.
        ADMIN_SERVICE_URL="",
        LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
        **extra,
    )
    return env


def migrate(database_url: str) -> None:
    subprocess.run(
        [str(PYTHON), "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=SERVICE_DIR,
        env=service_env(database_url),
        check=True,
    )


def seed_users(database_url: str, count: int) -> list[str]:
    """Bulk-insert users (COPY) until there are ``count``; return every user id."""
    with psycopg.connect(database_url.replace("postgres://", "postgresql://", 1)) as conn:
        existing = conn.execute("SELECT count(*) FROM users_user").fetchone()[0]
        missing = count - existing
        if missing > 0:
            started = time.perf_counter()
            now = datetime.now(UTC)
            run = uuid.uuid4().hex[:8]
            ids = [uuid.uuid4() for _ in range(missing)]
            with conn.cursor() as cur:
                with cur.copy(
                    "COPY users_user (id, password, is_superuser, email, name, is_active, is_staff, "
                    "created_at, updated_at) FROM STDIN"
                ) as copy:
                    for n, user_id in enumerate(ids):
                        # "!" marks an unusable password: bench users never log in.
                        copy.write_row(
                            (
                                user_id,
                                "!bench",
                                False,
                                f"bench-{run}-{n}@bench.example",
                                f"User {n}",
                                True,
                                False,
                                now,
                                now,
                            )
                        )
                with cur.copy("COPY users_preferences (user_id, email, push, updated_at) FROM STDIN") as copy:
                    for n, user_id in enumerate(ids):
                        copy.write_row((user_id, True, n % 3 != 0, now))
                # Half the users have a device, some of them a second, inactive one.
                with cur.copy(
                    "COPY users_device (id, user_id, token, platform, name, active, last_seen, "
                    "deactivation_reason, created_at, updated_at) FROM STDIN"
                ) as copy:
                    for n, user_id in enumerate(ids):
                        if n % 2 == 0:
                            copy.write_row(
                                (uuid.uuid4(), user_id, f"tok-{run}-{n}", "android", "", True, now, "", now, now)
                            )
                        if n % 10 == 0:
                            copy.write_row(
                                (uuid.uuid4(), user_id, f"old-{run}-{n}", "ios", "", False, now, "gone", now, now)
                            )
            conn.execute("ANALYZE users_user; ANALYZE users_preferences; ANALYZE users_device")
            conn.commit()
            log(f"inserted {missing:,} users in {time.perf_counter() - started:.1f} s")
        else:
            log(f"reusing {existing:,} users already in the database")
        return [str(row[0]) for row in conn.execute("SELECT id FROM users_user")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(database_url: str, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = service_env(database_url, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS=str(workers))
    process = subprocess.Popen(
        [str(GUNICORN), "-c", "python:notification_common.gunicorn_conf", "config.wsgi"],
        cwd=SERVICE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base_url, process, timeout=30, what="the user service (gunicorn)")
    except RuntimeError as exc:
        process.terminate()
        raise SystemExit(f"{exc}: {process.stderr.read()}") from None
    log(f"gunicorn ({workers} workers) on {base_url}")
    return process, base_url


def percentile(samples: list[float], pct: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1]


def measure_latency(base_url: str, key: str, user_ids: list[str], requests: int) -> list[float]:
    headers = {"X-API-Key": key}
    timings = []
    with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
        for user_id in random.sample(user_ids, min(200, len(user_ids))):  # warm-up: workers, pools, caches
            client.get(LOOKUP_PATH.format(user_id)).raise_for_status()
        for user_id in random.choices(user_ids, k=requests):
            started = time.perf_counter()
            response = client.get(LOOKUP_PATH.format(user_id))
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"lookup answered {response.status_code}: {response.text[:300]}")
    return timings


def measure_throughput(base_url: str, key: str, user_ids: list[str], threads: int, seconds: float) -> float:
    done = [0] * threads
    stop = time.monotonic() + seconds

    def worker(index: int) -> None:
        with httpx.Client(base_url=base_url, headers={"X-API-Key": key}, timeout=10) as client:
            while time.monotonic() < stop:
                client.get(LOOKUP_PATH.format(random.choice(user_ids))).raise_for_status()
                done[index] += 1

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(done) / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=3000, help="sequential lookups timed")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="client threads for the throughput run")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the throughput run")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_USER_DATABASE_URL", DEFAULT_DATABASE_URL))
    parser.add_argument("--url", help="measure a running user service instead of starting one")
    parser.add_argument("--api-key", default=os.environ.get("SERVICE_API_KEY", DEFAULT_INTERNAL_KEY))
    parser.add_argument("--drop", action="store_true", help="drop the bench database at the end")
    args = parser.parse_args()

    if args.url:
        user_ids = seed_users(args.database_url, args.users)
    else:
        ensure_database(args.database_url)
        migrate(args.database_url)
        user_ids = seed_users(args.database_url, args.users)
    process = None
    try:
        if args.url:
            base_url = args.url.rstrip("/")
        else:
            process, base_url = start_gunicorn(args.database_url, args.workers)
        timings = measure_latency(base_url, args.api_key, user_ids, args.requests)
        throughput = measure_throughput(base_url, args.api_key, user_ids, args.threads, args.seconds)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=20)
        if args.drop:
            drop_database(args.database_url)

    median, p95, p99 = statistics.median(timings), percentile(timings, 95), percentile(timings, 99)
    log("")
    log(f"GET /api/v1/users/{{id}}/ (internal key), {len(user_ids):,} users, {len(timings):,} sequential requests")
    log(f"  median {median:.2f} ms   p95 {p95:.2f} ms   p99 {p99:.2f} ms   max {max(timings):.2f} ms")
    log(f"  throughput with {args.threads} client threads, {args.workers} workers: {throughput:,.0f} requests/s")
    log(f"  target median < 5 ms: {'met' if median < 5 else 'NOT met'}")
    return 0 if median < 5 else 1


if __name__ == "__main__":
    sys.exit(main())
