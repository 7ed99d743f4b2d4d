"""Pushes per second delivered by ONE push consumer to the loopback FCM server.

Starts, each in its own process: the loopback FCM server (``python -m
notification_devtools.loopback.fcm``, which writes a service-account key whose ``token_uri``
points at itself), the real template service under gunicorn (the production command) on a
free port, and ``manage.py consume_push`` (the real command, unmodified firebase-admin SDK).
The user service is a loopback stub (status reports, device deactivations). Publishes N push
messages to ``push.queue`` in the vhost ``notifications_bench`` first, then starts the
consumer and times the pushes as the FCM server received them (first to last).

    .venv/bin/python bench/push_throughput.py [--messages 3000] [--devices 1] [--batch-size 50]

Every message renders its own variables (no render is cached), so each one costs a template
call, an FCM request per device, and its database rows. Target: >= 200 pushes/s.
Rows are written to the dev database ``push_db`` and removed at the end.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx

from notification_common.rabbitmq import PUSH_QUEUE, Publisher, connect, declare_topology
from notification_common.vhosts import ensure_vhost
from notification_devtools.testing.http import StubHTTPServer
from notification_devtools.testing.templates import TemplateServiceStub

ROOT = Path(__file__).resolve().parent.parent
# The services default to production and refuse the dev defaults there (docs/operations.md).
os.environ.setdefault("ENVIRONMENT", "development")
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
BENCH_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/notifications_bench_push"
BENCH_REDIS_URL = "redis://127.0.0.1:6379/11"  # not shared with the other benchmarks
INTERNAL_KEY = "dev-internal-key-change-me"
PUSH_DATABASE_URL = os.environ.get("PUSH_DATABASE_URL", "postgres://push_service:push_service@127.0.0.1:5432/push_db")
TARGET_PER_SECOND = 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check, what: str, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"{what}: process exited with {process.returncode}")
        try:
            if check():
                return
        except (httpx.TransportError, OSError):
            pass
        time.sleep(0.1)
    raise SystemExit(f"{what}: not ready within {timeout}s")


def reap(process: subprocess.Popen, timeout: float) -> float:
    """Wait for a child; its CPU seconds (user + system, with the children it reaped)."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime
        if time.monotonic() > deadline:
            process.kill()
            deadline = time.monotonic() + 10
        time.sleep(0.05)


def envelope(data) -> dict:
    return {"success": True, "data": data, "error": None, "message": "", "meta": None}


def start_template_service(env: dict) -> tuple[subprocess.Popen, str]:
    bind = f"127.0.0.1:{free_port()}"
    service_dir = ROOT / "template_service"
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=service_dir, env=env, check=True)
    server = subprocess.Popen(
        [GUNICORN, "-c", "python:notification_common.gunicorn_conf", "config.wsgi"],
        cwd=service_dir,
        env={**env, "GUNICORN_BIND": bind},
    )
    url = f"http://{bind}"
    wait_for(
        lambda: httpx.get(f"{url}/api/v1/health/live/", timeout=1).status_code == 200, "template service", 30, server
    )
    return server, url


def create_push_template(url: str, code: str) -> bool:
    """True when the real template service has the push template and renders it."""
    with httpx.Client(base_url=url, headers={"X-API-Key": INTERNAL_KEY}, timeout=10) as client:
        created = client.post(
            "/api/v1/templates/",
            json={
                "code": code,
                "channel": "push",
                "default_language": "en",
                "description": "bench/push_throughput.py",
                "versions": [
                    {
                        "language": "en",
                        "title": "Order {{ order }} shipped",
                        "body": "Hi {{ name }}, your order {{ order }} is on its way.",
                        "data": {"screen": "orders"},
                    }
                ],
            },
        )
        if created.status_code != 201:
            print(f"template create answered {created.status_code}: {created.text[:200]}")
            return False
        rendered = client.post(
            "/api/v1/templates/substitute/",
            json={"template_code": code, "language": "en", "variables": {"name": "Ada", "order": "1"}},
        )
        if rendered.status_code != 200 or "title" not in (rendered.json().get("data") or {}):
            print(f"substitute answered {rendered.status_code}: {rendered.text[:200]}")
            return False
    return True


def stub_template_service(server: StubHTTPServer, code: str) -> None:
    """The active-version endpoint with the bench's template (the consumer renders it itself)."""
    stub = TemplateServiceStub(server, channel="push")
    stub.add(
        code,
        "en",
        title="Order {{ order }} shipped",
        body="Hi {{ name }}, your order {{ order }} is on its way.",
        data={"screen": "orders"},
    )


def publish_messages(count: int, devices: int, code: str, run_id: str) -> list[str]:
    ids = []
    with Publisher(BENCH_RABBITMQ_URL) as publisher:
        for n in range(count):
            notification_id = str(uuid.uuid4())
            ids.append(notification_id)
            publisher.publish(
                PUSH_QUEUE,
                {
                    "schema": 1,
                    "notification_id": notification_id,
                    "notification_type": "push",
                    "user_id": str(uuid.uuid4()),
                    "template_code": code,
                    "language": "en",
                    "variables": {"name": f"User {n}", "order": f"{run_id}-{n}"},
                    "priority": 5,
                    "metadata": {},
                    "request_id": f"bench-{n}",
                    "trace_id": f"bench-{run_id}-{n}",
                    "recipient": {"push_tokens": [f"bench-{run_id}-{n}-{d}" for d in range(devices)]},
                    "created_at": datetime.now().astimezone().isoformat(),
                },
                message_id=notification_id,
            )
    return ids


def purge_queues() -> None:
    connection = connect(BENCH_RABBITMQ_URL)
    channel = connection.channel()
    declare_topology(channel)
    for name in (PUSH_QUEUE, "failed.queue"):
        channel.queue_purge(name)
    connection.close()


def delivered_rows(ids: list[str], *, delete: bool = False) -> int:
    import psycopg

    url = PUSH_DATABASE_URL.replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url) as conn:
        count = conn.execute(
            "SELECT count(*) FROM pushes_pushnotification"
            " WHERE notification_id = ANY(%s::uuid[]) AND status = 'delivered'",
            (ids,),
        ).fetchone()[0]
        if delete:
            conn.execute(
                "DELETE FROM pushes_pushdeviceresult WHERE notification_id IN "
                "(SELECT id FROM pushes_pushnotification WHERE notification_id = ANY(%s::uuid[]))",
                (ids,),
            )
            conn.execute("DELETE FROM pushes_pushnotification WHERE notification_id = ANY(%s::uuid[])", (ids,))
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000, help="push messages published")
    parser.add_argument("--devices", type=int, default=1, help="device tokens per message")
    parser.add_argument("--batch-size", type=int, default=None, help="consumer batch size (PUSH_CONSUMER_BATCH_SIZE)")
    parser.add_argument("--template-workers", type=int, default=2, help="gunicorn workers of the template service")
    parser.add_argument("--stub-templates", action="store_true", help="use a stub instead of the template service")
    parser.add_argument("--profile", metavar="PATH", help="run the consumer under cProfile, stats written to PATH")
    args = parser.parse_args()

    run_id = uuid.uuid4().hex[:8]
    expected = args.messages * args.devices
    ensure_vhost(BENCH_RABBITMQ_URL)
    purge_queues()
    workdir = Path(tempfile.mkdtemp(prefix="push-bench-"))
    account = workdir / "service-account.json"
    fcm_port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "DJANGO_SETTINGS", "PYTEST_"))},
        "LOG_LEVEL": "WARNING",
        "ADMIN_SERVICE_URL": "",  # API keys checked against the bootstrap keys
        "REDIS_URL": BENCH_REDIS_URL,
        "RABBITMQ_URL": BENCH_RABBITMQ_URL,
        "GUNICORN_WORKERS": str(args.template_workers),
    }
    processes: dict[str, subprocess.Popen] = {}
    cpu: dict[str, float] = {}
    users = StubHTTPServer()
    users.reply("POST", "/api/v1/push/status/", 200, None)
    users.reply("POST", "/api/v1/devices/deactivate/", 200, {"deactivated": 1})
    templates_stub = None
    ids: list[str] = []
    template_url = None
    real_template = False
    code = f"bench-push-{run_id}"
    try:
        fcm = subprocess.Popen(
            [PYTHON, "-m", "notification_devtools.loopback.fcm", "--port", str(fcm_port)]
            + ["--write-service-account", str(account)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        processes["FCM loopback"] = fcm
        fcm_url = f"http://127.0.0.1:{fcm_port}"
        wait_for(
            lambda: account.exists() and httpx.get(f"{fcm_url}/_loopback/health").status_code == 200, "FCM", 30, fcm
        )

        templates_note = f"the real template service (gunicorn, {args.template_workers} workers)"
        if not args.stub_templates:
            template_server, template_url = start_template_service(env)
            processes["template service"] = template_server
            real_template = create_push_template(template_url, code)
            if not real_template:
                template_url = None
                templates_note = "a STUB template service (the real one could not render a push template)"
        else:
            templates_note = "a STUB template service (--stub-templates)"
        if template_url is None:
            templates_stub = StubHTTPServer()
            stub_template_service(templates_stub, code)
            template_url = templates_stub.url

        ids = publish_messages(args.messages, args.devices, code, run_id)
        consumer_env = {
            **env,
            "FCM_ENDPOINT": fcm_url,
            "FIREBASE_SERVICE_ACCOUNT_PATH": str(account),
            "TEMPLATE_SERVICE_URL": template_url,
            "USER_SERVICE_URL": users.url,
        }
        if args.batch_size:
            consumer_env["PUSH_CONSUMER_BATCH_SIZE"] = str(args.batch_size)
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT / "push_service",
            env=consumer_env,
            check=True,
        )
        profiler = ["-m", "cProfile", "-o", args.profile] if args.profile else []
        consumer_log = open(workdir / "consumer.log", "w")  # noqa: SIM115 - closed with the process
        consumer = subprocess.Popen(
            [
                PYTHON,
                *profiler,
                "manage.py",
                "consume_push",
                "--max-messages",
                str(args.messages),
                "--idle-timeout",
                "30",
            ],
            cwd=ROOT / "push_service",
            env=consumer_env,
            stdout=consumer_log,
            stderr=subprocess.STDOUT,
        )
        processes["consumer"] = consumer

        def received() -> int:
            return httpx.get(f"{fcm_url}/_loopback/health", timeout=5).json()["messages"]

        wait_for(
            lambda: received() >= expected, "all pushes at the FCM server", timeout=max(60, expected / 20), process=None
        )
        cpu["consumer"] = reap(consumer, timeout=60)
        messages = httpx.get(f"{fcm_url}/_loopback/messages", timeout=30).json()
        times = sorted(datetime.fromisoformat(m["received_at"]) for m in messages)
        elapsed = (times[-1] - times[0]).total_seconds()
        delivered = delivered_rows(ids)
        duplicates = len(messages) - len({m["token"] for m in messages})
    finally:
        if real_template:
            httpx.delete(f"{template_url}/api/v1/templates/{code}/", headers={"X-API-Key": INTERNAL_KEY}, timeout=10)
        for process in reversed(processes.values()):
            if process.returncode is None:  # not Popen.send_signal: it would reap without the CPU figures
                os.kill(process.pid, signal.SIGTERM)
        for name, process in processes.items():
            if process.returncode is None:
                cpu.setdefault(name, reap(process, timeout=30))
        users.close()
        if templates_stub is not None:
            templates_stub.close()
        if ids:
            delivered_rows(ids, delete=True)

    pushes_per_second = (len(messages) - 1) / elapsed if elapsed > 0 else float("inf")
    print(f"push throughput, one consumer: {args.messages} messages x {args.devices} device(s) = {expected} pushes")
    print(f"templates: {templates_note}; user service: stub; FCM: loopback (unmodified firebase-admin)")
    print(f"received {len(messages)} pushes, duplicates {duplicates}, notifications delivered in DB {delivered}")
    print(f"first to last push: {elapsed:.2f} s")
    print(f"throughput: {pushes_per_second:.0f} pushes/s, {pushes_per_second / args.devices:.0f} notifications/s")
    print(
        "CPU ms per push: "
        + ", ".join(f"{name} {seconds * 1000 / max(1, len(messages)):.2f}" for name, seconds in cpu.items())
        + " (whole runs, start-up included)"
    )
    print(f"consumer log: {workdir / 'consumer.log'}")
    met = pushes_per_second >= TARGET_PER_SECOND and delivered == args.messages and duplicates == 0
    print(f"target >= {TARGET_PER_SECOND} pushes/s, all delivered once: {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
