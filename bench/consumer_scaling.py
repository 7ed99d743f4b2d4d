"""Consumer scaling: emails delivered per second by 1, 2, ... ``consume_emails`` processes
draining one backlog (issue 17).

Starts the platform as the e2e suite does (``e2e/launcher.py``: the six services under
gunicorn, real template and user services, loopback SMTP, INFO logs), with as many email
consumers as the largest count asked for. For each count N: every email consumer is stopped,
``--messages`` emails are accepted through the gateway (so the backlog is exactly what
clients produce) and wait in ``email.queue``; then N consumers start together and the clock
runs until the last email reaches the loopback SMTP server. Every email must arrive once.

Figures per N: delivered/s over the drain (first to last arrival, so the consumers' start-up
is left out) and from the consumers' start, the consumers' CPU per email (from the first
arrival), and how busy the whole machine was meanwhile (everything shares the same cores: re-measure on a quiet box).
Writes ``bench/results/consumer-scaling-<date>.json`` and ``.md``.

    .venv/bin/python bench/consumer_scaling.py [--messages 3000] [--consumers 1,2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "e2e"))
sys.path.insert(0, str(ROOT / "bench"))

import helpers  # noqa: E402
import launcher  # noqa: E402
from run import cpu_seconds, machine_busy_seconds  # noqa: E402

RESULTS = ROOT / "bench" / "results"
# The backlog is built as fast as the gateway takes it; its limits are not what is measured.
BENCH_ENV = {"RATE_LIMIT_PER_KEY": "100000000", "RATE_LIMIT_PER_USER": "100000000", "LOG_LEVEL": "INFO"}


def email_consumers(platform: launcher.Platform) -> list[launcher.Process]:
    return [p for p in platform.processes if p.name == "email-worker" or p.name.startswith("email-worker-")]


def queue_depth(platform: launcher.Platform, queue: str = "email.queue") -> int:
    from notification_common.rabbitmq import connect

    connection = connect(platform.env["RABBITMQ_URL"])
    try:
        return connection.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        connection.close()


def smtp_count(platform: launcher.Platform) -> int:
    return httpx.get(f"{platform.smtp_api}/health", timeout=10).json()["messages"]


def post_accepted(client: httpx.Client, body: dict, headers: dict, attempts: int = 30) -> httpx.Response:
    """POST a notification as a well-behaved client does: a 503 ``overloaded`` (load shed before
    anything was stored) is sent again, same request_id, after its Retry-After."""
    for _ in range(attempts):
        response = client.post("/api/v1/notifications/", json=body, headers=headers)
        if response.status_code != 503:
            return response
        time.sleep(float(response.headers.get("Retry-After", "1")))
    return response


def register(users: httpx.Client) -> str:
    """A fresh user (email on); a registration shed with 503 on a busy machine is sent again."""
    body = {
        "name": "Scaling",
        "email": f"{helpers.unique('scaling')}@example.com",
        "password": helpers.PASSWORD,
        "preferences": {"email": True, "push": False},
    }
    for _ in range(30):
        response = users.post("/api/v1/users/", json=body)
        if response.status_code != 503:
            break
        time.sleep(float(response.headers.get("Retry-After", "1")))
    return str(helpers.data(response, 201)["id"])


def fill(platform: launcher.Platform, *, messages: int, users: list[str], template: str, threads: int) -> list[str]:
    """Accept ``messages`` emails through the gateway; return their notification ids."""
    headers = helpers.api_key(platform.sender_key)
    local = threading.local()

    def post(n: int) -> str:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=platform.url("gateway"), timeout=60)
        body = {
            "notification_type": "email",
            "user_id": users[n % len(users)],
            "template_code": template,
            "variables": {"n": str(n)},
            "request_id": helpers.unique(f"scaling-{n}"),
        }
        return helpers.data(post_accepted(local.client, body, headers), 202)["notification_id"]

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(post, range(messages)))


def drain(platform: launcher.Platform, *, consumers: int, ids: list[str], timeout: float) -> dict:
    """Start ``consumers`` email consumers on the waiting backlog; time it until every id arrived."""
    before = smtp_count(platform)
    cpu_before, busy_before, load_before = cpu_seconds(platform), machine_busy_seconds(), os.getloadavg()
    started = time.time()
    running = email_consumers(platform)[:consumers]
    for process in running:
        process.start(process.env)
    deadline = time.monotonic() + timeout
    # Consumer CPU is counted from the first arrival on, so their start-up is left out of it.
    while smtp_count(platform) == before:
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: no email arrived in {timeout}s")
        time.sleep(0.2)
    cpu_delivering = cpu_seconds(platform)
    while smtp_count(platform) - before < len(ids):
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: only {smtp_count(platform) - before} of {len(ids)} emails arrived in {timeout}s")
        time.sleep(0.5)
    busy = machine_busy_seconds() - busy_before
    cpu = cpu_seconds(platform)
    wall = time.time() - started
    wanted = set(ids)
    arrived = [m for m in helpers.smtp_messages(platform.smtp_api, timeout=120) if m["notification_id"] in wanted]
    counts = Counter(m["notification_id"] for m in arrived)
    times = sorted(datetime.fromisoformat(m["received_at"]).timestamp() for m in arrived)
    consumer_cpu = sum(cpu[p.name] - cpu_delivering.get(p.name, 0.0) for p in running)
    for process in running:
        process.stop()
    return {
        "consumers": consumers,
        "messages": len(ids),
        "arrived_once": sum(1 for n in counts.values() if n == 1),
        "duplicates": sum(n - 1 for n in counts.values() if n > 1),
        "missing": len(wanted - set(counts)),
        "drain_seconds": round(times[-1] - times[0], 2),
        "from_start_seconds": round(times[-1] - started, 2),
        "delivered_per_second": round((len(times) - 1) / (times[-1] - times[0]), 1),
        "delivered_per_second_from_start": round(len(times) / (times[-1] - started), 1),
        "consumer_cpu_ms_per_email": round(consumer_cpu * 1000 / len(ids), 2),
        "machine": {
            "cores": os.cpu_count(),
            "busy_fraction": round(busy / (wall * (os.cpu_count() or 1)), 2),
            "load_average_1min": {"start": round(load_before[0], 2), "end": round(os.getloadavg()[0], 2)},
        },
        "cpu_seconds_by_process": {
            name: round(cpu[name] - cpu_before.get(name, 0.0), 1)
            for name in sorted(cpu, key=lambda n: cpu_before.get(n, 0.0) - cpu[n])
            if cpu[name] - cpu_before.get(name, 0.0) >= 0.5
        },
    }


def markdown(result: dict) -> str:
    lines = [
        f"# Consumer scaling, {result['date']}",
        "",
        f"{result['messages']} emails accepted through the gateway with every email consumer stopped, then "
        "N `consume_emails` processes started together on the backlog (e2e launcher: real template and user "
        f"services, loopback SMTP, INFO logs, gunicorn {result['gunicorn_workers']} workers per service). "
        f"{result['cores']} cores shared by everything.",
        "",
        "| consumers | delivered/s (first to last arrival) | delivered/s (from start) | consumer CPU per email "
        "| machine busy | load avg 1 min (start/end) | each delivered once |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        machine = run["machine"]
        once = run["arrived_once"] == run["messages"] and not run["duplicates"]
        lines.append(
            f"| {run['consumers']} | {run['delivered_per_second']} | {run['delivered_per_second_from_start']} "
            f"| {run['consumer_cpu_ms_per_email']} ms | {machine['busy_fraction']:.0%} "
            f"| {machine['load_average_1min']['start']} / {machine['load_average_1min']['end']} "
            f"| {'yes' if once else 'NO'} |"
        )
    lines += ["", "CPU seconds by process during each drain (>= 0.5 s):", ""]
    for run in result["runs"]:
        busiest = ", ".join(f"{name} {seconds}" for name, seconds in run["cpu_seconds_by_process"].items())
        lines.append(f"- {run['consumers']} consumer(s): {busiest}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=3000, help="emails in each backlog (default 3000)")
    parser.add_argument("--consumers", default="1,2", help="comma-separated consumer counts (default 1,2)")
    parser.add_argument("--threads", type=int, default=4, help="client threads filling the backlog")
    parser.add_argument("--gunicorn-workers", type=int, default=2, help="processes per service (default 2)")
    parser.add_argument("--timeout", type=float, default=600, help="max seconds for one drain")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    try:
        counts = [int(c) for c in args.consumers.split(",") if c.strip()]
    except ValueError:
        parser.error(f"--consumers must be whole numbers, got {args.consumers!r}")
    if not counts or min(counts) < 1 or args.messages < 2:
        parser.error("--consumers must be at least 1 each and --messages at least 2")

    env = {**BENCH_ENV, "GUNICORN_WORKERS": str(args.gunicorn_workers)}
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "messages": args.messages,
        "cores": os.cpu_count(),
        "gunicorn_workers": args.gunicorn_workers,
        "runs": [],
    }
    print(f"scaling: starting the platform with {max(counts)} email consumers ...", flush=True)
    with launcher.launch(extra_env=env, replicas={"email-worker": max(counts)}, failure_tuning={}) as platform:
        with (
            httpx.Client(base_url=platform.url("users"), timeout=30) as users,
            httpx.Client(base_url=platform.url("templates"), timeout=30) as templates,
        ):
            user_ids = [register(users) for _ in range(10)]
            template = helpers.unique("scaling").replace("-", "_")
            helpers.create_template(
                templates,
                helpers.api_key(platform.internal_key),
                code=template,
                channel="email",
                versions={"en": {"subject": "Order {{ n }}", "text_body": "Hello, order {{ n }} has shipped."}},
            )
        for consumers in counts:
            for process in email_consumers(platform):
                process.stop()
            print(f"scaling: filling a backlog of {args.messages} emails ...", flush=True)
            ids = fill(platform, messages=args.messages, users=user_ids, template=template, threads=args.threads)
            helpers.wait_for(
                lambda n=len(ids): queue_depth(platform) >= n, timeout=120, describe="the backlog in email.queue"
            )
            print(f"scaling: draining with {consumers} consumer(s) ...", flush=True)
            run = drain(platform, consumers=consumers, ids=ids, timeout=args.timeout)
            result["runs"].append(run)
            print(
                f"  {consumers} consumer(s): {run['delivered_per_second']} delivered/s over the drain "
                f"({run['drain_seconds']} s), {run['delivered_per_second_from_start']}/s from start; "
                f"machine busy {run['machine']['busy_fraction']:.0%}, "
                f"load {run['machine']['load_average_1min']['start']}",
                flush=True,
            )

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "consumer-scaling-" + datetime.now(UTC).strftime("%Y-%m-%d-%H%M%S")
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{stem}.md").write_text(markdown(result))
    print(markdown(result))
    print(f"scaling: wrote {out / stem}.json and .md")
    ok = all(r["arrived_once"] == r["messages"] and not r["duplicates"] for r in result["runs"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
