"""The chaos suite's clients: an open-loop load on the gateway and a prober of every service.

Load: request i is due at ``start + i / rate`` whatever earlier answers did (open loop).
A client that gets no answer, a 5xx or a 429 retries the *same* ``request_id`` (the
gateway's idempotency makes that safe) until ``give_up_seconds`` after the due time, as a
real client would; every attempt's status is kept, so a 500 is counted even when a retry
later succeeded. Each request goes to one of many users with distinct variables, and
alternates email and push.

Prober: every ``interval`` seconds it calls each service's health and one list endpoint,
so a 500 from a service the load does not reach (templates, admin, ...) is seen too.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

RETRY_STATUSES = frozenset({-1, 429, 500, 502, 503, 504})


@dataclass
class Sent:
    seq: int
    channel: str
    user: int
    due: float
    request_id: str
    attempts: list[tuple[float, int]] = field(default_factory=list)  # (epoch, status; -1 = no answer)
    notification_id: str | None = None
    server_errors: list[dict] = field(default_factory=list)  # {"at", "status", "body"} of each 5xx but 503

    @property
    def final_status(self) -> int | None:
        return self.attempts[-1][1] if self.attempts else None

    @property
    def accepted(self) -> bool:
        return self.notification_id is not None


async def post_json(host: str, port: int, path: str, body: dict, headers: dict[str, str]) -> tuple[int, bytes]:
    """One HTTP/1.1 POST on its own connection (``Connection: close``); cheap on CPU, which
    the load generator shares with the platform (same approach as ``bench/run.py``)."""
    payload = json.dumps(body).encode()
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head += [f"Content-Length: {len(payload)}", "Connection: close", "", ""]
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write("\r\n".join(head).encode() + payload)
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    _, _, response_body = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), response_body


@dataclass
class LoadPlan:
    gateway_url: str
    headers: dict[str, str]
    users: list[dict]  # {"id", "name"}
    templates: dict[str, str]  # channel -> template code
    run_id: str
    rate: float
    duration: float
    give_up_seconds: float = 120.0
    request_timeout: float = 20.0
    max_in_flight: int = 1000


async def _run_load(plan: LoadPlan, sent: list[Sent], stop: threading.Event) -> None:
    target = urlsplit(plan.gateway_url)
    in_flight = asyncio.Semaphore(plan.max_in_flight)

    async def one(item: Sent) -> None:
        user = plan.users[item.user]
        body = {
            "notification_type": item.channel,
            "user_id": user["id"],
            "template_code": plan.templates[item.channel],
            "variables": {"name": user["name"], "seq": str(item.seq), "run": plan.run_id},
            "request_id": item.request_id,
            "priority": 5,
            "metadata": {"source": "chaos"},
        }
        async with in_flight:
            pause = 0.5
            while True:
                try:
                    status, raw = await asyncio.wait_for(
                        post_json(target.hostname, target.port, "/api/v1/notifications/", body, plan.headers),
                        timeout=plan.request_timeout,
                    )
                except (OSError, TimeoutError, ValueError, IndexError):
                    status, raw = -1, b""
                item.attempts.append((time.time(), status))
                if status in (200, 202):
                    try:
                        item.notification_id = json.loads(raw)["data"]["notification_id"]
                        return
                    except (ValueError, KeyError, TypeError):
                        item.server_errors.append(
                            {"at": time.time(), "status": status, "body": f"no notification id: {raw[:200]!r}"}
                        )
                        return
                if status >= 500 and status != 503:
                    item.server_errors.append(
                        {"at": time.time(), "status": status, "body": raw[:300].decode("utf-8", "replace")}
                    )
                if status not in RETRY_STATUSES or time.time() + pause > item.due + plan.give_up_seconds:
                    return
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)

    start = time.time() + 0.5
    tasks = []
    total = int(plan.rate * plan.duration)
    for seq in range(total):
        if stop.is_set():
            break
        item = Sent(
            seq=seq,
            channel=("email", "push")[seq % 2],
            user=seq % len(plan.users),
            due=start + seq / plan.rate,
            request_id=f"chaos-{plan.run_id}-{seq}",
        )
        sent.append(item)
        await asyncio.sleep(max(0.0, item.due - time.time()))
        tasks.append(asyncio.create_task(one(item)))
    await asyncio.gather(*tasks)


def run_load(plan: LoadPlan, stop: threading.Event) -> list[Sent]:
    """Send the whole plan; returns when every request has its final answer."""
    sent: list[Sent] = []
    asyncio.run(_run_load(plan, sent, stop))
    return sent


# --------------------------------------------------------------------------- prober
@dataclass
class ProbeTarget:
    service: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


class Prober(threading.Thread):
    """Calls every target every ``interval`` seconds until stopped; keeps status counts and
    every answer >= 500 other than 503 (and any 503 without the envelope)."""

    def __init__(self, targets: list[ProbeTarget], interval: float = 2.0, refresh_headers=None):
        super().__init__(name="chaos-prober", daemon=True)
        self.targets = targets
        self.interval = interval
        self.refresh_headers = refresh_headers  # called on a 401 (an admin token that expired)
        self.stop_event = threading.Event()
        self.counts: Counter[tuple[str, str, int]] = Counter()
        self.server_errors: list[dict] = []

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self.stop_event.is_set():
                for target in self.targets:
                    path = urlsplit(target.url).path
                    try:
                        response = client.get(target.url, headers=target.headers)
                        status = response.status_code
                    except httpx.HTTPError:
                        status, response = -1, None
                    if status == 401 and self.refresh_headers is not None:
                        refreshed = self.refresh_headers(target)
                        if refreshed:
                            target.headers = refreshed
                    self.counts[(target.service, path, status)] += 1
                    if response is not None and status >= 500 and not (status == 503 and _is_envelope(response)):
                        self.server_errors.append(
                            {
                                "at": time.time(),
                                "service": target.service,
                                "path": path,
                                "status": status,
                                "body": response.text[:300],
                            }
                        )
                self.stop_event.wait(self.interval)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=30)


def _is_envelope(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("success") is False and "error" in body
