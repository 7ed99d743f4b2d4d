"""End-to-end benchmark at one fixed arrival rate into the gateway, measured at the client and
at the loopback SMTP/FCM servers (the earlier harness: ``make bench`` now runs capacity.py,
which reuses this module's client, percentiles and plot).

Starts the platform exactly as the e2e suite does (``e2e/launcher.py``: gunicorn, the
consumers, loopback SMTP and FCM), registers a user, creates a template, then sends
``--rate`` notifications per second for ``--duration`` seconds on an open loop: request i
is due at ``start + i / rate`` whether or not earlier answers came back, and its latency
counts from that due time, so a slow gateway cannot hide behind a slower send rate.

Each request carries its sequence number in a template variable; the rendered email/push
carries it back, so every arrival is matched to its request without trusting any header.
Reported: accepted/s, delivered/s, gateway p50/p95/p99, end-to-end (due time to arrival)
p50/p95/p99, lost (accepted, never arrived) and duplicated (arrived twice) counts.
Writes ``bench/results/<date>.json``, ``.md`` and ``.png`` (latency and throughput over time).

    .venv/bin/python bench/run.py --rate 100 --duration 60 [--channel email|push|mixed]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform as host_platform
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "e2e"))

import helpers  # noqa: E402
import launcher  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SEQ_PATTERN = re.compile(r"bench-seq=(\d+)")
# Open loop at the requested rate: the limits are the platform's, not the load generator's.
BENCH_ENV = {
    "RATE_LIMIT_PER_KEY": "100000000",
    "RATE_LIMIT_PER_USER": "100000000",
    "LOG_LEVEL": "INFO",
}


# --------------------------------------------------------------------------- set-up
def create_templates(templates: httpx.Client, headers: dict[str, str]) -> dict[str, str]:
    """One email and one push template whose bodies carry the sequence number back."""
    email_code, push_code = helpers.unique("bench-email"), helpers.unique("bench-push")
    helpers.create_template(
        templates,
        headers,
        code=email_code,
        channel="email",
        versions={"en": {"subject": "Bench {{ seq }}", "text_body": "bench-seq={{ seq }}"}},
    )
    helpers.create_template(
        templates,
        headers,
        code=push_code,
        channel="push",
        versions={"en": {"title": "Bench {{ seq }}", "body": "bench-seq={{ seq }}"}},
    )
    return {"email": email_code, "push": push_code}


# --------------------------------------------------------------------------- load
class Sent:
    __slots__ = ("seq", "channel", "due", "status", "answered", "notification_id")

    def __init__(self, seq: int, channel: str, due: float):
        self.seq, self.channel, self.due = seq, channel, due
        self.status: int | None = None
        self.answered: float | None = None
        self.notification_id: str | None = None


async def post_json(host: str, port: int, path: str, body: dict, headers: dict[str, str]) -> tuple[int, bytes]:
    """One HTTP/1.1 POST on its own connection, answered with ``Connection: close``.

    A bare asyncio client on purpose: the load generator shares the cores with the platform,
    and httpx costs several times more CPU per request than the request itself needs."""
    payload = json.dumps(body).encode()
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head += [f"Content-Length: {len(payload)}", "Connection: close", "", ""]
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write("\r\n".join(head).encode() + payload)
        await writer.drain()
        raw = await reader.read()  # until the server closes
    finally:
        writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    _, _, response_body = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), response_body


async def send_all(args, gateway_url: str, headers: dict, user_id: str, codes: dict[str, str]) -> list[Sent]:
    total = int(args.rate * args.duration)
    target = urlsplit(gateway_url)
    sent: list[Sent] = []
    # In-flight requests are capped; one waiting for a slot is still timed from its due time,
    # so the wait is measured, not hidden.
    in_flight = asyncio.Semaphore(args.connections)
    run_id = helpers.unique("run")

    async def one(item: Sent) -> None:
        body = {
            "notification_type": item.channel,
            "user_id": user_id,
            "template_code": codes[item.channel],
            "variables": {"seq": str(item.seq)},
            "request_id": f"bench-{run_id}-{item.seq}",
            "priority": 5,
            "metadata": {},
        }
        async with in_flight:
            try:
                status, raw = await asyncio.wait_for(
                    post_json(target.hostname, target.port, "/api/v1/notifications/", body, headers), timeout=60
                )
                item.status = status
                if status in (200, 202):
                    item.notification_id = json.loads(raw)["data"].get("notification_id")
            except (OSError, TimeoutError, ValueError, IndexError):
                item.status = -1
        item.answered = time.time()

    start = time.time() + 0.5
    tasks = []
    for seq in range(total):
        channel = args.channel if args.channel != "mixed" else ("email", "push")[seq % 2]
        item = Sent(seq, channel, start + seq / args.rate)
        sent.append(item)
        # Always yield, even when behind schedule, so answers are read while sending.
        await asyncio.sleep(max(0.0, item.due - time.time()))
        tasks.append(asyncio.create_task(one(item)))
    await asyncio.gather(*tasks)
    return sent


# --------------------------------------------------------------------------- CPU
def cpu_seconds(platform: launcher.Platform) -> dict[str, float]:
    """CPU time used so far by each platform process with its children (gunicorn workers):
    every process of a launched command shares its process group (its own session)."""
    ticks = os.sysconf("SC_CLK_TCK")
    groups = {p.popen.pid: p.name for p in platform.processes if p.popen is not None}
    totals: dict[str, float] = dict.fromkeys(groups.values(), 0.0)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        name = groups.get(int(fields[2]))  # process group
        if name is not None:
            totals[name] += sum(int(v) for v in fields[11:15]) / ticks  # utime stime cutime cstime
    times = os.times()
    totals["load generator (this process)"] = times.user + times.system
    return totals


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all processes, all cores), from /proc/stat."""
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    delta = {name: round(after[name] - before.get(name, 0.0), 1) for name in after}
    return dict(sorted(delta.items(), key=lambda item: -item[1]))


# --------------------------------------------------------------------------- arrivals
def arrivals(platform: launcher.Platform, push_token: str) -> dict[str, list[tuple[int, float]]]:
    """(seq, arrival epoch seconds) of everything the loopback servers received."""
    out: dict[str, list[tuple[int, float]]] = {"email": [], "push": []}
    # The loopback servers parse thousands of messages per listing: give them time. Arrival
    # times are stamped by the servers on receipt, so slow polling does not skew them.
    for message in helpers.smtp_messages(platform.smtp_api, timeout=120):
        match = SEQ_PATTERN.search(message.get("text") or "")
        if match:
            out["email"].append((int(match[1]), datetime.fromisoformat(message["received_at"]).timestamp()))
    for record in helpers.fcm_messages(platform.fcm_url, token=push_token, timeout=120):
        body = ((record.get("message") or {}).get("notification") or {}).get("body") or ""
        match = SEQ_PATTERN.search(body)
        if match:
            out["push"].append((int(match[1]), datetime.fromisoformat(record["received_at"]).timestamp()))
    return out


def wait_for_drain(platform, push_token, expected: dict[str, int], timeout: float, quiet: float) -> dict:
    """Poll the loopback servers until every accepted notification arrived, or nothing new
    arrived for ``quiet`` seconds, or ``timeout``."""
    deadline = time.monotonic() + timeout
    last_count, last_change = -1, time.monotonic()
    while True:
        got = arrivals(platform, push_token)
        distinct = {ch: len({seq for seq, _ in got[ch]}) for ch in got}
        count = sum(len(v) for v in got.values())
        if all(distinct[ch] >= expected[ch] for ch in expected):
            return got
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        if time.monotonic() > deadline or time.monotonic() - last_change > quiet:
            return got
        time.sleep(2)


# --------------------------------------------------------------------------- figures
def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summarize(args, sent: list[Sent], got: dict[str, list[tuple[int, float]]], elapsed: float) -> dict:
    accepted = [s for s in sent if s.status in (200, 202)]
    errors: dict[str, int] = {}
    for s in sent:
        if s.status not in (200, 202):
            errors[str(s.status)] = errors.get(str(s.status), 0) + 1
    gateway_ms = [(s.answered - s.due) * 1000 for s in sent if s.answered]
    by_seq = {s.seq: s for s in sent}
    first_arrival: dict[int, float] = {}
    seen: dict[int, int] = {}
    for channel_arrivals in got.values():
        for seq, at in channel_arrivals:
            seen[seq] = seen.get(seq, 0) + 1
            first_arrival[seq] = min(at, first_arrival.get(seq, at))
    e2e_ms = [(at - by_seq[seq].due) * 1000 for seq, at in first_arrival.items() if seq in by_seq]
    accepted_seqs = {s.seq for s in accepted}
    lost = sorted(accepted_seqs - set(first_arrival))
    duplicated = sum(n - 1 for n in seen.values() if n > 1)
    arrival_times = sorted(first_arrival.values())
    window = (arrival_times[-1] - arrival_times[0]) if len(arrival_times) > 1 else 0
    answer_times = sorted(s.answered for s in accepted if s.answered)
    send_window = (answer_times[-1] - answer_times[0]) if len(answer_times) > 1 else 0

    def pct(values):
        return {f"p{p}": _round(percentile(values, p)) for p in (50, 95, 99)} | {"max": _round(max(values, default=0))}

    return {
        "finished_at": datetime.now(UTC).isoformat(),
        "command": " ".join(["python", "bench/run.py", *sys.argv[1:]]),
        "rate": args.rate,
        "duration_seconds": args.duration,
        "channel": args.channel,
        "processes": {
            "gunicorn_workers_per_service": args.gunicorn_workers,
            "gunicorn_threads_per_worker": args.gunicorn_threads,
            "email_consumers": args.email_workers,
            "push_consumers": args.push_workers,
        },
        "host": {"python": sys.version.split()[0], "machine": host_platform.machine(), "cpus": _cpus()},
        "sent": len(sent),
        "accepted": len(accepted),
        "errors_by_status": errors,
        "accepted_per_second": _round(len(accepted) / send_window if send_window else None),
        "delivered": len(first_arrival),
        "delivered_per_second": _round(len(first_arrival) / window if window else None),
        "lost": len(lost),
        "lost_sample": lost[:20],
        "duplicated": duplicated,
        "gateway_latency_ms": pct(gateway_ms),
        "end_to_end_latency_ms": pct(e2e_ms),
        "wall_seconds": _round(elapsed),
        "timeline": timeline(sent, first_arrival),
    }


def timeline(sent: list[Sent], first_arrival: dict[int, float]) -> list[dict]:
    """Per second since the first due time: accepted, delivered, p50/p95 end-to-end latency
    of the requests due in that second."""
    if not sent:
        return []
    t0 = sent[0].due
    buckets: dict[int, dict] = {}

    def bucket(t: float) -> dict:
        return buckets.setdefault(int(t - t0), {"accepted": 0, "delivered": 0, "e2e": [], "gateway": []})

    for s in sent:
        if s.status in (200, 202) and s.answered:
            bucket(s.answered)["accepted"] += 1
            bucket(s.due)["gateway"].append((s.answered - s.due) * 1000)
        if s.seq in first_arrival:
            bucket(s.due)["e2e"].append((first_arrival[s.seq] - s.due) * 1000)
    for at in first_arrival.values():
        bucket(at)["delivered"] += 1
    return [
        {
            "second": second,
            "accepted": b["accepted"],
            "delivered": b["delivered"],
            "gateway_p50_ms": _round(percentile(b["gateway"], 50)),
            "gateway_p99_ms": _round(percentile(b["gateway"], 99)),
            "e2e_p50_ms": _round(percentile(b["e2e"], 50)),
            "e2e_p95_ms": _round(percentile(b["e2e"], 95)),
        }
        for second, b in sorted(buckets.items())
        if second >= 0
    ]


def _round(value):
    return None if value is None else round(value, 1)


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0)


def markdown(result: dict) -> str:
    g, e = result["gateway_latency_ms"], result["end_to_end_latency_ms"]
    rows = [
        ("offered rate", f"{result['rate']}/s for {result['duration_seconds']} s ({result['channel']})"),
        ("sent / accepted", f"{result['sent']} / {result['accepted']}"),
        ("errors", json.dumps(result["errors_by_status"]) if result["errors_by_status"] else "none"),
        ("accepted per second", result["accepted_per_second"]),
        ("delivered per second", result["delivered_per_second"]),
        ("gateway latency p50 / p95 / p99", f"{g['p50']} / {g['p95']} / {g['p99']} ms"),
        ("end-to-end latency p50 / p95 / p99", f"{e['p50']} / {e['p95']} / {e['p99']} ms"),
        ("lost", result["lost"]),
        ("duplicated", result["duplicated"]),
    ]
    cpu = result.get("cpu_seconds_during_run") or {}
    if cpu:
        top = ", ".join(f"{name} {seconds}" for name, seconds in list(cpu.items())[:6])
        available = round(result["wall_seconds"] * result["host"]["cpus"])
        rows.append(("CPU seconds of platform processes (top)", f"{top} (of {available} available)"))
    machine = result.get("machine")
    if machine:
        platform_total = round(sum(cpu.values()), 1)
        rows.append(
            (
                "whole machine",
                f"{machine['busy_cpu_seconds']} CPU s busy, {platform_total} of them the platform processes and the "
                f"load generator; 1-min load average {machine['load_average_1min']['start']} at start, "
                f"{machine['load_average_1min']['end']} at end",
            )
        )
    lines = [
        f"# End-to-end benchmark (finished {result['finished_at'][:19]}Z)",
        "",
        f"`{result['command']}` on {result['host']['cpus']} CPU(s), Python {result['host']['python']}.",
        "",
        "| measure | value |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows),
        "",
    ]
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = result["timeline"]
    seconds = [p["second"] for p in points]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    top.plot(seconds, [p["accepted"] for p in points], label="accepted/s")
    top.plot(seconds, [p["delivered"] for p in points], label="delivered/s")
    top.axhline(result["rate"], color="grey", linestyle=":", label="offered rate")
    top.set_ylabel("notifications per second")
    top.legend(loc="lower right")
    top.grid(alpha=0.3)

    def series(key):
        return [p[key] if p[key] is not None else float("nan") for p in points]

    bottom.plot(seconds, series("e2e_p50_ms"), label="end-to-end p50")
    bottom.plot(seconds, series("e2e_p95_ms"), label="end-to-end p95")
    bottom.plot(seconds, series("gateway_p99_ms"), label="gateway p99")
    bottom.set_yscale("log")
    bottom.set_ylabel("latency (ms, log scale)")
    bottom.set_xlabel("seconds since start (by request due time; delivered by arrival time)")
    bottom.legend(loc="upper right")
    bottom.grid(alpha=0.3, which="both")
    fig.suptitle(f"{result['rate']}/s for {result['duration_seconds']} s, {result['channel']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=100, help="notifications per second (default 100)")
    parser.add_argument("--duration", type=float, default=60, help="seconds of load (default 60)")
    parser.add_argument("--channel", choices=("email", "push", "mixed"), default="email")
    parser.add_argument("--connections", type=int, default=200, help="most requests in flight at once")
    parser.add_argument("--drain-timeout", type=float, default=120, help="max seconds to wait for arrivals")
    parser.add_argument("--email-workers", type=int, default=1)
    parser.add_argument("--push-workers", type=int, default=1)
    parser.add_argument("--gunicorn-workers", type=int, default=2, help="processes per service (default 2)")
    parser.add_argument("--gunicorn-threads", type=int, default=1, help="threads per process (default 1: sync)")
    parser.add_argument("--out", default=str(RESULTS), help="directory for the result files")
    args = parser.parse_args(argv)
    env = {**BENCH_ENV, "GUNICORN_WORKERS": str(args.gunicorn_workers), "GUNICORN_THREADS": str(args.gunicorn_threads)}

    replicas = {"email-worker": args.email_workers, "push-worker": args.push_workers}
    print(f"bench: starting the platform (gunicorn x6, consumers {replicas}) ...", flush=True)
    with launcher.launch(extra_env=env, replicas=replicas) as platform:
        with (
            httpx.Client(base_url=platform.url("users"), timeout=15) as users,
            httpx.Client(base_url=platform.url("templates"), timeout=15) as templates,
        ):
            push_token = helpers.unique("bench-device")
            user = helpers.register_user(users, name="Bench", push_token=push_token)
            codes = create_templates(templates, helpers.api_key(platform.internal_key))
        headers = helpers.api_key(platform.sender_key)
        print(f"bench: {args.rate:g}/s for {args.duration:g} s of {args.channel} ...", flush=True)
        started = time.time()
        cpu_before, busy_before, load_before = cpu_seconds(platform), machine_busy_seconds(), os.getloadavg()[0]
        sent = asyncio.run(send_all(args, platform.url("gateway"), headers, user.id, codes))
        expected = {ch: sum(1 for s in sent if s.channel == ch and s.status in (200, 202)) for ch in ("email", "push")}
        print(f"bench: sent {len(sent)}, waiting for arrivals {expected} ...", flush=True)
        got = wait_for_drain(platform, push_token, expected, timeout=args.drain_timeout, quiet=20)
        result = summarize(args, sent, got, time.time() - started)
        result["cpu_seconds_during_run"] = cpu_delta(cpu_before, cpu_seconds(platform))
        # Everything shares the cores: what else ran (PostgreSQL, RabbitMQ, Redis, and any other
        # work on the machine) is part of the figures' context.
        result["machine"] = {
            "busy_cpu_seconds": round(machine_busy_seconds() - busy_before, 1),
            "load_average_1min": {"start": round(load_before, 2), "end": round(os.getloadavg()[0], 2)},
        }

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = datetime.now(UTC).strftime("%Y-%m-%d-%H%M%S")
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{stem}.md").write_text(markdown(result))
    plot(result, out / f"{stem}.png")
    print(markdown(result))
    print(f"bench: wrote {out / stem}.json, .md and .png")
    ok = result["lost"] == 0 and result["duplicated"] == 0 and not result["errors_by_status"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
