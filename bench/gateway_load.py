"""Open-loop load on the gateway's POST /api/v1/notifications/.

Requests leave at a fixed arrival rate whatever the answers do (open loop), and each
latency is measured from the request's *scheduled* send time, so a slow gateway shows up
as latency instead of silently lowering the offered load (coordinated omission).

Two ways to run it:

* ``--url http://127.0.0.1:8000`` — against a running gateway (e.g. ``make dev``); the
  users must exist in the user service it talks to (``--user-id``, repeatable).
* without ``--url`` — the bench starts the gateway itself under gunicorn, isolated from a
  dev stack: its own database (``bench_api_gateway_db``, dropped afterwards), Redis db 10,
  RabbitMQ vhost ``notifications_bench_gateway`` (purged afterwards). The user service is a loopback
  stub serving the documented contract, unless ``--user-service URL`` names a real one.

Every request carries a fresh ``request_id``: each one is a new notification (stored,
outboxed, published with confirms), the gateway's full path.

    .venv/bin/python bench/gateway_load.py --rate 200 --duration 60
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx

ROOT = Path(__file__).resolve().parent.parent
# The services default to production and refuse the dev defaults there (docs/operations.md).
os.environ.setdefault("ENVIRONMENT", "development")
GATEWAY_DIR = ROOT / "api_gateway_service"
sys.path.insert(0, str(ROOT / "notification_common"))

DEFAULT_SENDER_KEY = "dev-sender-key-change-me"
BENCH_DB = "bench_api_gateway_db"
BENCH_REDIS = "redis://127.0.0.1:6379/10"  # db 10: the other benchmarks and e2e use 11-15
BENCH_VHOST_URL = "amqp://guest:guest@127.0.0.1:5672/notifications_bench_gateway"
TARGET_P99_MS = 50.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running gateway; without it the bench starts one")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second (default 200)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--api-key", default=os.environ.get("BENCH_API_KEY", DEFAULT_SENDER_KEY))
    parser.add_argument("--type", choices=("email", "push"), default="email", dest="notification_type")
    parser.add_argument("--users", type=int, default=100, help="stub users to spread the load over")
    parser.add_argument("--user-id", action="append", default=[], help="existing user ids (with --url)")
    parser.add_argument("--user-service", help="a real user service for a gateway the bench starts")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers of the gateway it starts (default 4)")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("GUNICORN_THREADS", "1")))
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request timeout in seconds")
    parser.add_argument("--keep-db", action="store_true", help="keep the bench database afterwards")
    parser.add_argument("--timeline", action="store_true", help="also print p50/p99 per second of the run")
    parser.add_argument(
        "--warmup",
        type=float,
        default=3.0,
        help="seconds at a quarter of the rate before measuring, not counted (workers boot, caches fill)",
    )
    return parser.parse_args(argv)


# -- the system under test -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve_stub_users(user_ids: list[str], ready) -> None:
    from notification_devtools.testing.http import StubHTTPServer

    server = StubHTTPServer()
    for user_id in user_ids:
        server.reply(
            "GET",
            f"/api/v1/users/{user_id}/",
            200,
            {
                "id": user_id,
                "name": "Bench User",
                "email": f"bench+{user_id[:8]}@example.com",
                "is_active": True,
                "preferences": {"email": True, "push": True},
                "devices": [
                    {"id": str(uuid.uuid4()), "token": f"tok-{user_id}", "platform": "android", "active": True}
                ],
                "created_at": "2026-11-24T00:00:00+00:00",
            },
        )
    ready.send(server.url)
    threading.Event().wait()


class StubUserService:
    """The user service's `GET /api/v1/users/{id}/` contract, in a process of its own (so its
    answers do not wait on the load generator's loop)."""

    def __init__(self, count: int):
        self.user_ids = [str(uuid.uuid4()) for _ in range(count)]
        receive, send = multiprocessing.Pipe(duplex=False)
        self._process = multiprocessing.Process(target=_serve_stub_users, args=(self.user_ids, send), daemon=True)
        self._process.start()
        self.url = receive.recv()

    def close(self) -> None:
        self._process.terminate()
        self._process.join(5)


def gateway_database_url(name: str) -> str:
    base = os.environ.get(
        "GATEWAY_DATABASE_URL", "postgres://api_gateway_service:api_gateway_service@127.0.0.1:5432/api_gateway_db"
    )
    return urlunparse(urlparse(base)._replace(path=f"/{name}"))


def recreate_database(url: str, *, drop_only: bool = False) -> None:
    import psycopg

    parsed = urlparse(url)
    admin = urlunparse(parsed._replace(path="/postgres"))
    name = parsed.path.lstrip("/")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def prepare_broker(url: str, *, purge_only: bool = False) -> None:
    from notification_common.rabbitmq import all_queues, connect, declare_topology
    from notification_common.vhosts import ensure_vhost

    if not purge_only:
        ensure_vhost(url)
    connection = connect(url)
    try:
        channel = connection.channel()
        declare_topology(channel)
        for queue in all_queues():
            channel.queue_purge(queue)
    finally:
        connection.close()


def reachable(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/health/live/", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def start_gateway(args, user_service_url: str) -> tuple[subprocess.Popen, str, dict]:
    port = free_port()
    admin_url = os.environ.get("ADMIN_SERVICE_URL", "http://127.0.0.1:8005")
    env = dict(
        os.environ,
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS=str(args.workers),
        GUNICORN_THREADS=str(args.threads),
        GATEWAY_DATABASE_URL=gateway_database_url(BENCH_DB),
        REDIS_URL=BENCH_REDIS,
        RABBITMQ_URL=BENCH_VHOST_URL,
        USER_SERVICE_URL=user_service_url,
        # Without a running admin service, keys come from BOOTSTRAP_API_KEYS (and are cached).
        ADMIN_SERVICE_URL=admin_url if reachable(admin_url) else "",
        LOG_LEVEL=os.environ.get("LOG_LEVEL", "WARNING"),
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    recreate_database(env["GATEWAY_DATABASE_URL"])
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=GATEWAY_DIR, env=env, check=True
    )
    prepare_broker(BENCH_VHOST_URL)
    import redis

    redis.Redis.from_url(BENCH_REDIS).flushdb()
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [str(gunicorn), "-c", "python:notification_common.gunicorn_conf", "config.wsgi"],
        cwd=GATEWAY_DIR,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not reachable(url):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the gateway did not start")
        time.sleep(0.2)
    return process, url, env


# -- the load ---------------------------------------------------------------------------------


async def post_json(host: str, port: int, path: str, payload: bytes, headers: dict) -> tuple[int, bytes]:
    """One HTTP/1.1 POST on its own connection (gunicorn's sync workers close it anyway).

    Plain asyncio streams: an HTTP client library's pool bookkeeping costs more CPU than the
    request itself once thousands are in flight, and the generator must never be the
    bottleneck of an open-loop test.
    """
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(payload)}\r\n"
            f"Connection: close\r\n{head}\r\n".encode()
            + payload
        )
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        length = None
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await reader.readexactly(length) if length is not None else await reader.read()
        return status, body
    finally:
        writer.close()


async def run_load(url: str, *, rate: float, duration: float, api_key: str, user_ids, notification_type, timeout):
    total = int(rate * duration)
    latencies: list[float] = []
    statuses: Counter = Counter()
    errors: Counter = Counter()
    parsed = urlparse(url)
    host, port = parsed.hostname, parsed.port or 80
    path = f"{parsed.path.rstrip('/')}/api/v1/notifications/"
    headers = {"X-API-Key": api_key, "Content-Type": "application/json"}
    loop = asyncio.get_running_loop()

    async def one(index: int, scheduled: float) -> None:
        payload = json.dumps(
            {
                "notification_type": notification_type,
                "user_id": user_ids[index % len(user_ids)],
                "template_code": "welcome",
                "variables": {"name": "Bench", "link": "https://example.com"},
                "request_id": f"bench-{uuid.uuid4()}",
                "priority": 5,
                "metadata": {"bench": True},
            }
        ).encode()
        try:
            status, body = await asyncio.wait_for(post_json(host, port, path, payload, headers), timeout)
            statuses[status] += 1
            if status != 202:
                errors[f"HTTP {status}: {body[:120].decode(errors='replace')}"] += 1
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            errors[type(exc).__name__] += 1
        latencies.append(loop.time() - scheduled)
        timeline.append((scheduled - start, loop.time() - scheduled))

    timeline: list[tuple[float, float]] = []
    start = loop.time() + 0.2
    tasks = []
    for index in range(total):
        scheduled = start + index / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, scheduled)))
    send_lag = loop.time() - (start + (total - 1) / rate)
    await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    return latencies, statuses, errors, elapsed, send_lag, timeline


def print_timeline(timeline) -> None:
    by_second: dict[int, list[float]] = {}
    for offset, latency in timeline:
        by_second.setdefault(int(offset), []).append(latency * 1000)
    for second in sorted(by_second):
        values = sorted(by_second[second])
        print(
            f"  t={second:>3}s  n={len(values):>4}  p50 {percentile(values, 0.5):7.1f}  "
            f"p99 {percentile(values, 0.99):7.1f}  max {values[-1]:7.1f} ms"
        )


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, int(round(fraction * len(sorted_values) + 0.5)) - 1))
    return sorted_values[index]


def report(args, *, mode: str, latencies, statuses, errors, elapsed, send_lag, outbox, gateway_cpu_ms) -> bool:
    ordered = sorted(latencies)
    ms = [value * 1000 for value in ordered]
    error_count = sum(errors.values())
    p50, p95, p99 = (percentile(ms, f) for f in (0.50, 0.95, 0.99))
    print()
    print(f"mode:        {mode}")
    print(
        f"offered:     {args.rate:.0f} req/s for {args.duration:.0f} s ({len(latencies)} requests, open loop; "
        f"after {args.warmup:.0f} s of warmup at {args.rate / 4:.0f} req/s, not counted)"
    )
    print(f"throughput:  {len(latencies) / elapsed:.1f} req/s completed ({elapsed:.1f} s wall)")
    print(f"statuses:    {dict(sorted(statuses.items()))}")
    print(f"errors:      {error_count}")
    for error, count in errors.most_common(5):
        print(f"             {count} x {error}")
    print(
        "latency ms:  "
        f"p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  max {ms[-1] if ms else float('nan'):.1f}"
        "  (from the scheduled send time)"
    )
    print(f"send lag:    {send_lag * 1000:.1f} ms behind schedule at the last send (generator health)")
    if gateway_cpu_ms is not None:
        print(f"gateway cpu: {gateway_cpu_ms:.2f} ms per request (gunicorn master + workers, user + system)")
    print(f"load avg:    {os.getloadavg()[0]:.2f} (1 min, whole machine; {os.cpu_count()} cores)")
    if outbox is not None:
        print(f"outbox:      {outbox}")
    passed = error_count == 0 and p99 < TARGET_P99_MS
    print(f"target:      p99 < {TARGET_P99_MS:.0f} ms and no errors -> {'PASS' if passed else 'FAIL'}")
    return passed


def process_tree_cpu_seconds(root_pid: int) -> float:
    """utime + stime of a process and its children (gunicorn master + workers), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        stats[pid] = (int(fields[11]) + int(fields[12])) / ticks
    total, stack = 0.0, [root_pid]
    while stack:
        pid = stack.pop()
        total += stats.get(pid, 0.0)
        stack.extend(children.get(pid, []))
    return total


def outbox_state(url: str):
    # The backlog figures are health details: only an internal key sees them.
    headers = {"X-API-Key": os.environ.get("BENCH_INTERNAL_KEY", "dev-internal-key-change-me")}
    try:
        checks = httpx.get(f"{url}/api/v1/health/", headers=headers, timeout=5).json()["data"]["checks"]
        return checks.get("outbox")
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


def main(argv=None) -> int:
    args = parse_args(argv)
    process = stub = None
    env = None
    try:
        if args.url:
            url = args.url.rstrip("/")
            if not args.user_id:
                raise SystemExit("--url needs --user-id (users that exist in that gateway's user service)")
            user_ids = args.user_id
            mode = f"external gateway at {url}; its own user service"
        else:
            if args.user_service:
                if not args.user_id:
                    raise SystemExit("--user-service needs --user-id (users that exist there)")
                user_service_url, user_ids = args.user_service.rstrip("/"), args.user_id
                kind = f"real user service at {user_service_url}"
            else:
                stub = StubUserService(args.users)
                user_ids = stub.user_ids
                user_service_url = stub.url
                kind = f"STUB user service ({len(user_ids)} users, contract of docs/architecture.md)"
            process, url, env = start_gateway(args, user_service_url)
            mode = (
                f"gateway started by the bench under gunicorn ({args.workers} workers x {args.threads} threads) "
                f"at {url}; {kind}; db {BENCH_DB}, redis db 10, vhost notifications_bench_gateway"
            )
        load = {
            "api_key": args.api_key,
            "user_ids": user_ids,
            "notification_type": args.notification_type,
            "timeout": args.timeout,
        }
        if args.warmup > 0:
            warm = asyncio.run(run_load(url, rate=max(1.0, args.rate / 4), duration=args.warmup, **load))
            errors = sum(warm[2].values())
            print(f"warmup: {len(warm[0])} requests in {args.warmup:.0f} s, {errors} errors (not counted)")
            time.sleep(1.0)
        print(f"load: {args.rate:.0f} req/s for {args.duration:.0f} s -> {url}  [{mode}]", flush=True)
        cpu_before = process_tree_cpu_seconds(process.pid) if process else None
        latencies, statuses, errors, elapsed, send_lag, timeline = asyncio.run(
            run_load(url, rate=args.rate, duration=args.duration, **load)
        )
        cpu = None
        if process is not None:
            cpu = (process_tree_cpu_seconds(process.pid) - cpu_before) / max(1, len(latencies)) * 1000
        time.sleep(0.5)
        if args.timeline:
            print_timeline(timeline)
        passed = report(
            args,
            mode=mode,
            latencies=latencies,
            statuses=statuses,
            errors=errors,
            elapsed=elapsed,
            send_lag=send_lag,
            outbox=outbox_state(url),
            gateway_cpu_ms=cpu,
        )
        return 0 if passed else 1
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
            prepare_broker(BENCH_VHOST_URL, purge_only=True)
            if not args.keep_db:
                recreate_database(env["GATEWAY_DATABASE_URL"], drop_only=True)
        if stub is not None:
            stub.close()


if __name__ == "__main__":
    sys.exit(main())
