"""Emails per second one ``EmailConsumer`` delivers into a loopback SMTP server.

Starts the loopback SMTP server (its own process), the REAL template service under
gunicorn on a free port (dev database ``template_db``, migrated; a template created through
its API with the internal key), a stub of the user service's status endpoint, then puts N
messages into ``email.queue`` of the vhost ``notifications_bench_email`` (its own: other
benchmarks run consumers of their own) and runs one consumer in this process (email
service dev database ``email_db``, migrated). The clock runs from the consumer's start to
the last SMTP hand-over (``sent_at`` of the last delivery).

Two variable modes (the consumer renders locally from the template's active version, so
both make one template-service call per TEMPLATE_ACTIVE_VERSION_TTL_SECONDS):
* ``distinct``: every message has its own variables (the realistic case for personalised emails);
* ``same``: one set of variables.

    .venv/bin/python bench/email_throughput.py [--messages 2000] [--batch-size 50] \
        [--modes distinct,same] [--render-concurrency 4]

If the template service cannot be started or has no substitute endpoint, a stub of its
active-version endpoint stands in for it and the output says so. Rows the run created are deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The services default to production and refuse the dev defaults there (docs/operations.md).
os.environ.setdefault("ENVIRONMENT", "development")
EMAIL_DIR = ROOT / "email_service"
TEMPLATE_DIR = ROOT / "template_service"
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
DEFAULT_KEY = "dev-internal-key-change-me"
BENCH_VHOST_URL = "amqp://guest:guest@127.0.0.1:5672/notifications_bench_email"
BENCH_REDIS_URL = "redis://127.0.0.1:6379/13"  # keeps the bench's heartbeat out of the dev stack's Redis db
TARGET_PER_SECOND = 200
BENCH_TEMPLATE = {
    "subject": "Your order {{ order_id }}, {{ name }}",
    "text_body": "Hi {{ name }},\n\nyour order {{ order_id }} has shipped.\nTrack it: {{ link }}\n",
    "html_body": "<p>Hi {{ name }},</p><p>your order <b>{{ order_id }}</b> has shipped. "
    "<a href='{{ link }}'>Track it</a></p>",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_json(method: str, url: str, body=None, headers=None, timeout: float = 5.0):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def wait_for(predicate, what: str, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {process.returncode}")
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what}: not ready within {timeout}s")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


# --------------------------------------------------------------------------- processes
def start_smtp() -> tuple[subprocess.Popen, int, str]:
    port, http_port = free_port(), free_port()
    process = subprocess.Popen(
        [PYTHON, "-m", "notification_devtools.loopback.smtp", "--port", str(port), "--http-port", str(http_port)],
        stdout=subprocess.DEVNULL,  # it prints a line per message
    )
    control = f"http://127.0.0.1:{http_port}"
    wait_for(lambda: http_json("GET", f"{control}/health")[0] == 200, "loopback SMTP", process=process)
    return process, port, control


def start_template_service(template_code: str) -> tuple[subprocess.Popen | None, str | None, str]:
    """The real template service with one email template, or (None, None, why not)."""
    port = free_port()
    env = {
        **os.environ,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "LOG_LEVEL": "WARNING",
        "ADMIN_SERVICE_URL": "",  # bootstrap keys: the figure must not depend on the admin service
        "REDIS_URL": BENCH_REDIS_URL,
    }
    migrate = subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=TEMPLATE_DIR, env=env, capture_output=True
    )
    if migrate.returncode != 0:
        return None, None, f"migrate failed: {migrate.stderr.decode()[-300:]}"
    process = subprocess.Popen(
        [GUNICORN, "-c", "python:notification_common.gunicorn_conf", "config.wsgi"], cwd=TEMPLATE_DIR, env=env
    )
    url = f"http://127.0.0.1:{port}"
    headers = {"X-API-Key": os.environ.get("SERVICE_API_KEY", DEFAULT_KEY)}
    try:
        wait_for(lambda: http_json("GET", f"{url}/api/v1/health/live/")[0] == 200, "template service", process=process)
        status, body = http_json(
            "POST",
            f"{url}/api/v1/templates/",
            {
                "code": template_code,
                "channel": "email",
                "default_language": "en",
                "description": "bench/email_throughput.py",
                "versions": [{"language": "en", **BENCH_TEMPLATE}],
            },
            headers,
        )
        if status != 201:
            raise RuntimeError(f"creating the template answered {status}: {body}")
        status, body = http_json(
            "POST",
            f"{url}/api/v1/templates/substitute/",
            {"template_code": template_code, "language": "en", "variables": variables_for(0)},
            headers,
        )
        if status != 200 or not (body.get("data") or {}).get("subject"):
            raise RuntimeError(f"substitute answered {status}: {body}")
    except RuntimeError as exc:
        process.terminate()
        process.wait(timeout=30)
        return None, None, str(exc)
    return process, url, ""


def delete_template(url: str, template_code: str) -> None:
    http_json(
        "DELETE",
        f"{url}/api/v1/templates/{template_code}/",
        headers={"X-API-Key": os.environ.get("SERVICE_API_KEY", DEFAULT_KEY)},
    )


def variables_for(n: int) -> dict:
    return {"name": f"User {n}", "order_id": 100000 + n, "link": f"https://example.com/track/{n}"}


# --------------------------------------------------------------------------- the run
def setup_django(smtp_port: int, template_url: str, user_url: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "TEMPLATE_SERVICE_URL": template_url,
            "USER_SERVICE_URL": user_url,
            "RABBITMQ_URL": BENCH_VHOST_URL,
            "REDIS_URL": BENCH_REDIS_URL,
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
        }
    )
    sys.path.insert(0, str(EMAIL_DIR))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def publish(count: int, template_code: str, mode: str) -> list[str]:
    from notification_common.rabbitmq import EMAIL_QUEUE, Publisher, connect, declare_topology

    connection = connect(BENCH_VHOST_URL)
    channel = connection.channel()
    declare_topology(channel)
    channel.queue_purge(EMAIL_QUEUE)
    connection.close()
    ids = []
    with Publisher(BENCH_VHOST_URL) as publisher:
        for n in range(count):
            notification_id = str(uuid.uuid4())
            ids.append(notification_id)
            body = {
                "schema": 1,
                "notification_id": notification_id,
                "notification_type": "email",
                "user_id": str(uuid.uuid4()),
                "template_code": template_code,
                "language": "en",
                "variables": variables_for(n if mode == "distinct" else 0),
                "priority": 5,
                "metadata": {},
                "request_id": f"bench-{n}",
                "trace_id": f"bench-trace-{n}",
                "recipient": {"email": f"user{n}@example.com", "name": f"User {n}"},
                "created_at": "2026-11-24T01:00:00+00:00",
            }
            publisher.publish(EMAIL_QUEUE, body, message_id=notification_id, headers={"x-request-id": f"bench-{n}"})
    return ids


def run_once(count: int, template_code: str, mode: str, args, smtp_control: str) -> dict:
    from emails.consumer import EmailConsumer
    from emails.models import EmailAttempt, EmailNotification

    http_json("DELETE", f"{smtp_control}/messages")
    ids = publish(count, template_code, mode)
    consumer = EmailConsumer(
        BENCH_VHOST_URL,
        batch_size=args.batch_size,
        prefetch_count=max(args.prefetch, args.batch_size),
        report_flush_seconds=10,
    )
    consumer.renderer.concurrency = args.render_concurrency
    started_wall = time.time()
    started = time.perf_counter()
    cpu_started = time.process_time()
    settled = consumer.run(max_messages=count, idle_timeout=15)
    cpu_seconds = time.process_time() - cpu_started
    run_seconds = time.perf_counter() - started
    rows = EmailNotification.objects.filter(notification_id__in=ids)
    delivered = rows.filter(status="delivered")
    sent_times = sorted(t.timestamp() for t in delivered.values_list("sent_at", flat=True))
    durations = list(
        EmailAttempt.objects.filter(delivery__notification_id__in=ids, outcome="sent").values_list(
            "duration_ms", flat=True
        )
    )
    _, smtp_health = http_json("GET", f"{smtp_control}/health")
    result = {
        "mode": mode,
        "messages": count,
        "settled": settled,
        "delivered": len(sent_times),
        "smtp_received": smtp_health["messages"],
        "seconds": (sent_times[-1] - started_wall) if sent_times else run_seconds,
        "template_calls": consumer.renderer.calls,
        "smtp_connections": consumer.sender.connections_opened,
        "smtp_ms": durations,
        "reports_sent": consumer.reporter.sent,
        "cpu_ms_per_email": cpu_seconds * 1000 / max(1, count),
    }
    consumer.reporter.stop(timeout=1)
    EmailAttempt.objects.filter(delivery__notification_id__in=ids).delete()
    rows.delete()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--prefetch", type=int, default=100)
    parser.add_argument("--render-concurrency", type=int, default=4)
    parser.add_argument("--modes", default="distinct,same", help="comma-separated: distinct, same")
    args = parser.parse_args()
    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]

    from notification_common.vhosts import ensure_vhost
    from notification_devtools.testing.http import StubHTTPServer
    from notification_devtools.testing.templates import TemplateServiceStub

    ensure_vhost(BENCH_VHOST_URL)
    template_code = f"bench-email-{uuid.uuid4().hex[:8]}"
    smtp, smtp_port, smtp_control = start_smtp()
    template_process, template_url, why_not = start_template_service(template_code)
    user_stub = StubHTTPServer()
    user_stub.reply("POST", "/api/v1/email/status/", 200, data={"accepted": True})
    template_stub = None
    if template_process is None:
        template_stub = StubHTTPServer()
        TemplateServiceStub(template_stub).add(template_code, "en", **BENCH_TEMPLATE)
        template_url = template_stub.url
    try:
        setup_django(smtp_port, template_url, user_stub.url)
        results = [run_once(args.messages, template_code, mode, args, smtp_control) for mode in modes]
    finally:
        if template_process is not None:
            delete_template(template_url, template_code)
            template_process.terminate()
            template_process.wait(timeout=30)
        if template_stub is not None:
            template_stub.close()
        user_stub.close()
        smtp.terminate()
        smtp.wait(timeout=10)

    print(
        f"email throughput: one EmailConsumer, batch {args.batch_size}, prefetch {args.prefetch}, "
        f"render concurrency {args.render_concurrency}, {os.cpu_count()} CPUs"
    )
    if template_process is not None:
        print("template service: REAL (gunicorn, template_db)")
    else:
        print(f"template service: STUB (the real one could not be used: {why_not})")
    ok = True
    for r in results:
        rate = r["delivered"] / r["seconds"] if r["seconds"] else 0.0
        ok = ok and rate >= TARGET_PER_SECOND and r["delivered"] == r["messages"] == r["smtp_received"]
        smtp_ms = r["smtp_ms"] or [0]
        print(
            f"  variables={r['mode']:<8} {r['delivered']}/{r['messages']} delivered "
            f"({r['smtp_received']} at SMTP) in {r['seconds']:.2f}s = {rate:.0f} emails/s; "
            f"template calls {r['template_calls']}; SMTP connections {r['smtp_connections']}; "
            f"SMTP send p50 {statistics.median(smtp_ms):.1f} ms p95 {percentile(smtp_ms, 0.95):.1f} ms "
            f"p99 {percentile(smtp_ms, 0.99):.1f} ms; status reports sent {r['reports_sent']}; "
            f"consumer CPU {r['cpu_ms_per_email']:.2f} ms/email"
        )
    load = os.getloadavg()[0]
    print(f"load average during the run: {load:.1f} (other processes share these CPUs: re-run on a quiet machine)")
    print(f"target >= {TARGET_PER_SECOND} emails/s with every message delivered once: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
