"""Who got what: the chaos suite's books, kept by notification id.

accepted   the gateway answered 200/202 with a notification id (after any retries)
delivered  that id arrived at the loopback SMTP server (X-Notification-ID header) or at the
           loopback FCM server (data.notification_id)
lost       accepted and never delivered; duplicated: delivered more than once
dead letters  rows of the admin service's dead-letter store, by failure kind: ``exhausted``
           (the retry budget ran out: a transient cause) counts against the run, as do
           dead letters of notifications that were delivered after all
500s       any answer >= 500 except a 503, from the load, the prober, or the access logs
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import httpx

ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) ')
ACCESS_TIME = re.compile(r"\[(\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\]")
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*: ")  # "django.db.utils.OperationalError: ..."
TRANSIENT_KINDS = frozenset({"exhausted", "transient"})


def smtp_deliveries(smtp_api: str) -> Counter:
    response = httpx.get(f"{smtp_api}/messages", timeout=300)
    response.raise_for_status()
    return Counter(m.get("notification_id") for m in response.json() if m.get("notification_id"))


def fcm_deliveries(fcm_url: str) -> Counter:
    response = httpx.get(f"{fcm_url}/_loopback/messages", timeout=300)
    response.raise_for_status()
    found: Counter = Counter()
    for record in response.json():
        nid = ((record.get("message") or {}).get("data") or {}).get("notification_id")
        if nid:
            found[nid] += 1
    return found


def deliveries(platform) -> dict[str, Counter]:
    return {"email": smtp_deliveries(platform.smtp_api), "push": fcm_deliveries(platform.fcm_url)}


def wait_for_drain(
    platform, accepted: dict[str, str], *, timeout: float, quiet: float, queued=None, progress=print
) -> dict:
    """Poll the loopback servers until every accepted id arrived, or nothing new arrived for
    ``quiet`` seconds while ``queued()`` (messages still in the broker's queues, delay tiers
    included) is 0, or ``timeout``; returns the last deliveries seen. Messages still queued
    are still on their way (e.g. waiting out a dead worker's sending lease), not lost."""
    deadline = time.monotonic() + timeout
    last_total, last_change = -1, time.monotonic()
    while True:
        got = deliveries(platform)
        arrived = sum(1 for nid, channel in accepted.items() if got[channel][nid])
        total = sum(sum(c.values()) for c in got.values())
        if arrived >= len(accepted):
            return got
        if total != last_total:
            last_total, last_change = total, time.monotonic()
            progress(f"chaos: drain: {arrived}/{len(accepted)} accepted notifications delivered")
        now = time.monotonic()
        if now > deadline:
            return got
        if now - last_change > quiet:
            in_queues = queued() if queued is not None else 0
            if not in_queues:
                return got
            progress(f"chaos: drain: nothing new for {quiet:g}s, {in_queues} message(s) still queued: waiting")
            last_change = now
        time.sleep(3)


def dead_letters(admin_url: str, headers: dict[str, str], database_url: str) -> tuple[list[dict], str]:
    """The admin service's dead letters: through its API, or, when the API fails, straight
    from its database (a test harness's fallback, so a broken list endpoint cannot hide
    dead letters). Returns (rows, where they were read)."""
    rows: list[dict] = []
    page = 1
    try:
        with httpx.Client(base_url=admin_url, headers=headers, timeout=30) as client:
            while True:
                response = client.get("/api/v1/admin/dead-letters/", params={"page": page, "limit": 100})
                response.raise_for_status()
                body = response.json()
                rows += body["data"]
                if not (body.get("meta") or {}).get("has_next"):
                    return rows, "admin API"
                page += 1
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        api_error = f"{type(exc).__name__}: {exc}"
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT notification_id, channel, failure_kind, reason, attempts FROM platform_admin_deadletter"
        ).fetchall()
    return rows, f"admin database (the API failed: {api_error[:200]})"


def queue_depths(rabbitmq_url: str, peek: int = 0) -> tuple[dict[str, int | str], dict[str, list[dict]]]:
    """Messages still sitting in each queue of the topology (delay tiers included), and, with
    ``peek``, the first few messages of each non-empty queue: id, attempt, expiration (the
    delay it waits for) and failure headers. Peeked messages are not acked: closing the
    channel puts them back."""
    from notification_common.rabbitmq import all_queues, connect

    depths: dict[str, int | str] = {}
    heads: dict[str, list[dict]] = {}
    connection = connect(rabbitmq_url)
    try:
        for queue in all_queues():
            channel = connection.channel()
            try:
                depths[queue] = channel.queue_declare(queue, passive=True).method.message_count
                for _ in range(min(peek, depths[queue])):
                    method, properties, body = channel.basic_get(queue, auto_ack=False)
                    if method is None:
                        break
                    heads.setdefault(queue, []).append(_describe(properties, body))
            except Exception as exc:  # a queue missing from the broker is itself a finding
                depths[queue] = f"{type(exc).__name__}"
            finally:
                if channel.is_open:
                    channel.close()
    finally:
        connection.close()
    return depths, heads


def _describe(properties, body: bytes) -> dict:
    headers = dict(properties.headers or {})
    try:
        payload = json.loads(body)
    except ValueError:
        payload = {}
    return {
        "notification_id": payload.get("notification_id") if isinstance(payload, dict) else None,
        "message_id": properties.message_id,
        "expiration_ms": properties.expiration,
        "headers": {
            k: (str(v)[:200] if not isinstance(v, int | float) else v)
            for k, v in headers.items()
            if k.startswith("x-") and k != "x-history"
        },
        "last_history": str(headers.get("x-history", ""))[-300:],
    }


def access_log_errors(log_dir: Path, services: list[str]) -> dict:
    """From each service's log: requests by status (gunicorn's access log lines), every answer
    >= 500 other than 503, and the exceptions behind them (Django's "Internal Server Error"
    lines, with the last line of their traceback)."""
    by_status: dict[str, Counter] = {}
    errors: list[dict] = []
    causes: list[dict] = []
    for service in services:
        counts: Counter = Counter()
        path = log_dir / f"{service}.log"
        if not path.exists():
            continue
        with open(path, errors="replace") as fh:
            for line in fh:
                match = ACCESS_LINE.search(line)
                if match:
                    status = int(match["status"])
                    counts[status] += 1
                    if status >= 500 and status != 503:
                        errors.append(
                            {
                                "service": service,
                                "path": match["path"].split("?")[0],
                                "status": status,
                                "at": _access_time(line),
                            }
                        )
                elif "Internal Server Error" in line or "Error handling request" in line:
                    causes.append({"service": service, **_exception_of(line)})
        by_status[service] = counts
    return {
        "requests_by_status": {s: dict(sorted(c.items())) for s, c in by_status.items()},
        "errors": errors,
        "causes": causes,
    }


def _access_time(line: str) -> float | None:
    match = ACCESS_TIME.search(line)
    if not match:
        return None
    return datetime.strptime(match[1], "%d/%b/%Y:%H:%M:%S %z").timestamp()


def _exception_of(line: str) -> dict:
    """path, time and exception ("Type: message") of a JSON error log line."""
    try:
        record = json.loads(line)
    except ValueError:
        return {"path": None, "at": None, "exception": line.strip()[:300]}
    trace = [t for t in (record.get("exc_info") or "").splitlines() if EXCEPTION_LINE.match(t)]
    message = record.get("message") or ""
    try:
        at = datetime.fromisoformat(record["time"]).timestamp()
    except (KeyError, ValueError):
        at = None
    return {
        "path": message.split(": ", 1)[1] if ": " in message else None,
        "at": at,
        "exception": (trace[-1] if trace else message)[:300],
    }


def group_server_errors(sent, prober_errors: list[dict], logs: dict, started: float, faults: list[dict]) -> list[dict]:
    """Every 5xx but 503 grouped by where it was seen, service, path, status and cause, with
    the time span (seconds after the load started) and the fault that was last injected
    before the first one: a handful of rows the lead can act on."""
    rows: list[tuple[str, str, str | None, int | None, str, float | None]] = []
    for s in sent:
        for e in s.server_errors:
            rows.append(("load", "gateway", "/api/v1/notifications/", e["status"], _short(e["body"]), e["at"]))
    for e in prober_errors:
        rows.append(("prober", e["service"], e["path"], e["status"], _short(e["body"]), e["at"]))
    for e in logs["errors"]:
        rows.append(("access log", e["service"], e["path"], e["status"], "", e["at"]))
    for e in logs["causes"]:
        rows.append(("service log", e["service"], e["path"], None, e["exception"], e["at"]))
    groups: dict[tuple, dict] = {}
    for source, service, path, status, cause, at in rows:
        key = (source, service, path, status, re.sub(r"port \d+", "port N", cause))
        group = groups.setdefault(key, {"count": 0, "first": None, "last": None})
        group["count"] += 1
        if at is not None:
            t = round(at - started, 1)
            group["first"] = t if group["first"] is None else min(group["first"], t)
            group["last"] = t if group["last"] is None else max(group["last"], t)
    out = []
    for (source, service, path, status, cause), g in groups.items():
        # Access-log times are whole seconds: allow one second of slack.
        before = [f for f in faults if g["first"] is not None and f["started_at"] <= g["first"] + 1.0]
        out.append(
            {
                "source": source,
                "service": service,
                "path": path,
                "status": status,
                "cause": cause,
                "count": g["count"],
                "first_s": g["first"],
                "last_s": g["last"],
                "after_fault": before[-1]["fault"] if before else "(before any fault)",
            }
        )
    return sorted(out, key=lambda r: (r["first_s"] is None, r["first_s"] or 0))


def _short(body: str) -> str:
    try:
        parsed = json.loads(body)
        return f"{parsed.get('error')}: {parsed.get('message')}"[:200]
    except (ValueError, AttributeError):
        return body[:200]


def error_lines(log_dir: Path) -> dict[str, int]:
    """ERROR/CRITICAL log lines per process log (context for the lead, not a pass criterion)."""
    counts: dict[str, int] = {}
    for path in sorted(log_dir.glob("*.log")):
        n = 0
        with open(path, errors="replace") as fh:
            for line in fh:
                if '"level": "ERROR"' in line or '"level": "CRITICAL"' in line:
                    n += 1
        if n:
            counts[path.stem] = n
    return counts


def reconcile(sent, got: dict[str, Counter], letters: list[dict]) -> dict:
    accepted = {s.notification_id: s for s in sent if s.accepted}
    channel_of = {nid: s.channel for nid, s in accepted.items()}
    lost = [nid for nid, channel in channel_of.items() if got[channel][nid] == 0]
    lost_set = set(lost)
    duplicated = {nid: got[channel][nid] for nid, channel in channel_of.items() if got[channel][nid] > 1}
    unexpected = sorted(
        nid for channel, counter in got.items() for nid in counter if channel_of.get(nid) != channel
    )  # arrived but never answered 2xx to the load (e.g. the answer was lost and retries gave up)

    letters_by_nid: dict[str, list[dict]] = defaultdict(list)
    for row in letters:
        letters_by_nid[row.get("notification_id") or ""].append(row)
    transient = [r for r in letters if (r.get("failure_kind") or "") in TRANSIENT_KINDS]
    other = [r for r in letters if (r.get("failure_kind") or "") not in TRANSIENT_KINDS]
    refused = Counter(str(s.final_status) for s in sent if not s.accepted)

    def letter(row: dict) -> dict:
        return {
            "notification_id": row.get("notification_id"),
            "channel": row.get("channel"),
            "failure_kind": row.get("failure_kind"),
            "reason": (row.get("reason") or "")[:300],
            "attempts": row.get("attempts"),
            "delivered_anyway": bool(
                row.get("notification_id") in channel_of and row.get("notification_id") not in lost_set
            ),
        }

    return {
        "requests": len(sent),
        "accepted": len(accepted),
        "accepted_by_channel": dict(Counter(channel_of.values())),
        "not_accepted": sum(refused.values()),
        "not_accepted_by_final_status": dict(refused),
        "delivered": len(accepted) - len(lost),
        "lost": len(lost),
        "lost_ids": [
            {
                "notification_id": nid,
                "channel": channel_of[nid],
                "seq": accepted[nid].seq,
                "dead_letters": [letter(r) for r in letters_by_nid.get(nid, [])],
            }
            for nid in lost
        ],
        "duplicated": len(duplicated),
        "duplicated_ids": [
            {"notification_id": nid, "channel": channel_of[nid], "copies": n} for nid, n in duplicated.items()
        ],
        "unexpected_deliveries": unexpected,
        "dead_letters": len(letters),
        "dead_letters_transient": len(transient),
        "dead_letters_by_kind": dict(Counter(r.get("failure_kind") or "" for r in letters)),
        "dead_letter_reasons": dict(Counter(_reason_class(r.get("reason") or "") for r in letters).most_common(20)),
        "dead_letters_list": [letter(r) for r in transient + other],
    }


def _reason_class(reason: str) -> str:
    """Group reasons without their ids and numbers, so the report shows a handful of causes."""
    reason = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27,}", "<id>", reason)
    return re.sub(r"\d+(\.\d+)?", "N", reason)[:160]
