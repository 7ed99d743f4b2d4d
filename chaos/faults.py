"""The restarting supervisor and the faults the chaos suite injects.

The supervisor plays the part of systemd/Kubernetes for ``make dev``'s processes: any
process of the platform that dies is started again with the same command and
environment. Faults are run one after another at fixed offsets from the start of the
load; each is recorded as an event (when, what, how long, and any error injecting it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx


class EventLog:
    def __init__(self, started: float):
        self.started = started
        self.events: list[dict] = []
        self._lock = threading.Lock()

    def add(self, kind: str, what: str, **details) -> dict:
        event = {"t": round(time.time() - self.started, 1), "kind": kind, "what": what, **details}
        with self._lock:
            self.events.append(event)
        print(f"chaos: [{event['t']:7.1f}s] {kind}: {what} {details or ''}", flush=True)
        return event


class Supervisor(threading.Thread):
    """Restart every platform process that is not alive (checked every ``interval`` s)."""

    def __init__(self, platform, events: EventLog, interval: float = 0.5):
        super().__init__(name="chaos-supervisor", daemon=True)
        self.platform = platform
        self.events = events
        self.interval = interval
        self.stop_event = threading.Event()
        self.restarts: dict[str, int] = {}

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            for process in list(self.platform.processes):
                if self.stop_event.is_set():
                    return
                if process.popen is None or process.alive:
                    continue
                code = process.popen.returncode
                try:
                    process.start(process.env)
                    self.restarts[process.name] = self.restarts.get(process.name, 0) + 1
                    self.events.add("restart", process.name, exit_code=code)
                except OSError as exc:
                    self.events.add("restart-failed", process.name, error=str(exc))

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=10)


def gunicorn_workers(master_pid: int) -> list[int]:
    """The worker pids of a gunicorn master (its children, from /proc)."""
    children: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{master_pid}/task"):
            with contextlib.suppress(OSError):
                text = Path(f"/proc/{master_pid}/task/{task}/children").read_text()
                children += [int(pid) for pid in text.split()]
    return sorted(children)


@dataclass
class Fault:
    at: float  # seconds after the load started
    name: str
    action: Callable[[], dict | None]
    details: dict = field(default_factory=dict)


class FaultInjector(threading.Thread):
    """Run the faults in order, each at its offset (or at once when an earlier one overran)."""

    def __init__(self, faults: list[Fault], events: EventLog, load_started: float):
        super().__init__(name="chaos-faults", daemon=True)
        self.faults = sorted(faults, key=lambda f: f.at)
        self.events = events
        self.load_started = load_started
        self.stop_event = threading.Event()
        self.done: list[dict] = []

    def run(self) -> None:
        for fault in self.faults:
            if self.stop_event.wait(max(0.0, self.load_started + fault.at - time.time())):
                return
            begun = time.time()
            try:
                result = fault.action() or {}
                error = None
            except Exception as exc:  # a fault that could not be injected is reported, not fatal
                result, error = {}, f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
            record = {
                "fault": fault.name,
                "planned_at": fault.at,
                "started_at": round(begun - self.load_started, 1),
                "seconds": round(time.time() - begun, 1),
                **fault.details,
                **result,
            }
            if error:
                record["error"] = error
            self.done.append(record)
            self.events.add(
                "fault-error" if error else "fault", fault.name, **{k: v for k, v in record.items() if k != "fault"}
            )

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=120)


# --------------------------------------------------------------------------- fault actions
def kill_process(platform, name: str) -> Callable[[], dict]:
    """kill -9 of a whole platform process (a gunicorn master with its workers, or a worker)."""

    def action() -> dict:
        process = platform.process(name)
        pid = process.popen.pid if process.popen else None
        process.signal(signal.SIGKILL)
        return {"pid": pid}

    return action


def kill_gunicorn_worker(platform, name: str) -> Callable[[], dict]:
    """kill -9 of one worker of a service; its gunicorn master replaces it."""

    def action() -> dict:
        master = platform.process(name).popen.pid
        workers = gunicorn_workers(master)
        if not workers:
            raise RuntimeError(f"no gunicorn worker found under {name} master {master}")
        os.kill(workers[0], signal.SIGKILL)
        return {"pid": workers[0], "master": master}

    return action


def stop_server_for(server, seconds: float) -> Callable[[], dict]:
    """Stop a private server, keep it down ``seconds``, start it again."""

    def action() -> dict:
        began = time.monotonic()
        server.stop()
        stopped = time.monotonic()
        time.sleep(max(0.0, seconds - (time.monotonic() - began)))
        restarting = time.monotonic()
        server.start()
        done = time.monotonic()
        return {
            "stop_seconds": round(stopped - began, 1),
            "start_seconds": round(done - restarting, 1),
            "unavailable_seconds": round(done - began, 1),
        }

    return action


def smtp_outage(platform, seconds: float, code: int = 451) -> Callable[[], dict]:
    def action() -> dict:
        response = httpx.post(
            f"{platform.smtp_api}/control", json={"outage_seconds": seconds, "code": code}, timeout=10
        )
        response.raise_for_status()
        return {"outage_seconds": seconds, "code": code}

    return action


def fcm_outage(platform, seconds: float, outcome: str = "UNAVAILABLE") -> Callable[[], dict]:
    def action() -> dict:
        response = httpx.post(
            f"{platform.fcm_url}/_loopback/outage", json={"seconds": seconds, "outcome": outcome}, timeout=10
        )
        response.raise_for_status()
        return {"outage_seconds": seconds, "outcome": outcome}

    return action
