"""Fault-injection suite (``make chaos``, ``make chaos-short``): the whole platform under a
steady load while its processes are killed and its servers and providers fail.

One run:
1. starts private PostgreSQL, Redis and RabbitMQ servers on free ports (``servers.py``;
   the shared ones on the default ports are never touched);
2. starts ``make dev``'s processes against them with ``e2e/launcher.py`` (six services
   under gunicorn, both consumers, the relay, the dead-letter consumer, loopback SMTP and
   FCM) under a supervisor that restarts whatever dies;
3. registers many users, creates an email and a push template, and drives an open-loop
   rate of notifications through the gateway (``load.py``), while a prober calls every
   service's health and a list endpoint;
4. injects, one after another: kill -9 of the email consumer, the push consumer, the
   dead-letter consumer, the outbox relay, a gateway worker and the user service;
   RabbitMQ stopped; PostgreSQL restarted; Redis restarted; SMTP answering 451 and FCM
   answering 503 UNAVAILABLE for a long outage (``faults.py``);
5. drains, then accounts by notification id (``accounting.py``) and writes
   ``chaos/results/<time>-<profile>.json`` and ``.md``.

Pass: 0 lost, 0 duplicated, 0 dead letters from transient causes, 0 HTTP 500 (any answer
>= 500 but 503) from any service. Exit status 0 on a pass, 1 on a fail, 2 when the run
could not be made (a missing binary, the platform did not start).

    .venv/bin/python chaos/run.py --profile short      # CI form, a few minutes
    .venv/bin/python chaos/run.py --profile full       # 10-minute provider outages, ~25 min
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import accounting  # noqa: E402
import faults  # noqa: E402
import helpers  # noqa: E402
import launcher  # noqa: E402
import servers  # noqa: E402
from load import LoadPlan, Prober, ProbeTarget, run_load  # noqa: E402

RESULTS = ROOT / "chaos" / "results"
ADMIN_PASSWORD = "chaos-Admin-Password-42"


@dataclass(frozen=True)
class Profile:
    name: str
    rate: float  # notifications per second (alternately email and push)
    duration: float  # seconds of load; the faults happen inside it
    users: int
    kills_at: tuple[float, ...]  # email consumer, push consumer, dead letters, relay, gateway worker, users
    rabbitmq_at: float
    rabbitmq_down: float
    postgres_at: float
    postgres_down: float
    redis_at: float
    redis_down: float
    providers_at: float
    provider_outage: float  # SMTP 451 and FCM 503 at the same time, this long
    retry_base: float  # the consumers' backoff, shortened so the drain after an outage is quick;
    retry_max: float  # the retry *budget* (attempts / total time) stays the product's default
    breaker_reset: float
    drain_timeout: float
    drain_quiet: float


PROFILES = {
    "short": Profile(
        name="short",
        rate=6,
        duration=180,
        users=20,
        kills_at=(10, 14, 18, 22, 26, 30),
        rabbitmq_at=40,
        rabbitmq_down=20,
        postgres_at=80,
        postgres_down=5,
        redis_at=95,
        redis_down=2,
        providers_at=110,
        provider_outage=60,
        retry_base=1,
        retry_max=5,
        breaker_reset=5,
        drain_timeout=480,  # a worker killed mid-send holds its claim for the sending lease (push: 300 s)
        drain_quiet=60,
    ),
    "full": Profile(
        name="full",
        rate=20,
        duration=900,
        users=100,
        kills_at=(20, 30, 40, 50, 60, 70),
        rabbitmq_at=90,
        rabbitmq_down=30,
        postgres_at=150,
        postgres_down=10,
        redis_at=190,
        redis_down=5,
        providers_at=220,
        provider_outage=600,
        retry_base=2,
        retry_max=60,
        breaker_reset=15,
        drain_timeout=1500,
        drain_quiet=180,
    ),
}
KILLED = ("email-worker", "push-worker", "dead-letter-consumer", "outbox-relay", "gateway worker", "users")


def platform_env(profile: Profile) -> tuple[dict[str, str], dict[str, str]]:
    """(env for every process, retry/circuit tuning replacing the e2e suite's fast one)."""
    env = {
        "RATE_LIMIT_PER_KEY": "100000000",  # the load is one sender at a steady rate: not what is tested
        "RATE_LIMIT_PER_USER": "100000000",
        "LOG_LEVEL": os.environ.get("CHAOS_LOG_LEVEL", "WARNING"),
    }
    tuning = {
        "EMAIL_RETRY_BASE_SECONDS": str(profile.retry_base),
        "EMAIL_RETRY_MAX_SECONDS": str(profile.retry_max),
        "PUSH_RETRY_BASE_SECONDS": str(profile.retry_base),
        "PUSH_RETRY_MAX_SECONDS": str(profile.retry_max),
        "EMAIL_SMTP_BREAKER_RESET_SECONDS": str(profile.breaker_reset),
        "FCM_CIRCUIT_RESET_SECONDS": str(profile.breaker_reset),
        "CIRCUIT_RESET_SECONDS": str(profile.breaker_reset),
    }
    return env, tuning


def point_at(private: dict, tuning: dict[str, str]) -> None:
    """Point this process's environment (which the launcher hands to every process) at the
    private servers, and nothing at the shared ones."""
    pg, redis, rabbit = private["postgresql"], private["redis"], private["rabbitmq"]
    os.environ["POSTGRES_ADMIN_URL"] = pg.admin_url
    for service in launcher.SERVICES:
        os.environ[service.db_env] = pg.database_url(service.directory, service.db_name)
    os.environ["REDIS_URL"] = redis.url(0)
    os.environ["RABBITMQ_URL"] = rabbit.url("notifications")
    os.environ.pop("RABBITMQ_MANAGEMENT_URL", None)
    os.environ.update(tuning)  # the topology this process declares must match the consumers'


def start_private_servers(base: Path, stack: contextlib.ExitStack) -> dict:
    private = {}
    for cls in (servers.PrivatePostgres, servers.PrivateRedis, servers.PrivateRabbitMQ):
        server = cls(base)
        stack.callback(server.cleanup)
        started = time.monotonic()
        server.start()
        print(
            f"chaos: private {server.name} on 127.0.0.1:{server.port} ({time.monotonic() - started:.1f}s)", flush=True
        )
        private[server.name] = server
    private["rabbitmq"].add_vhost(launcher.E2E_VHOST)
    return private


# --------------------------------------------------------------------------- set-up over HTTP
def register_users(platform, count: int) -> list[dict]:
    """Register ``count`` users, each with one push device (no log-in: the load uses the
    sender key). A few at a time: each registration hashes a password."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> dict:
        body = {
            "name": f"Chaos User {i}",
            "email": f"{helpers.unique(f'chaos{i}')}@example.com",
            "password": helpers.PASSWORD,
            "push_token": f"chaos-device-{i}-{uuid.uuid4().hex[:8]}",
            "preferences": {"email": True, "push": True},
        }
        with httpx.Client(base_url=platform.url("users"), timeout=60) as client:
            user = helpers.data(patiently(lambda: client.post("/api/v1/users/", json=body)), 201)
        return {"id": str(user["id"]), "name": body["name"]}

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, range(count)))


def patiently(call, timeout: float = 120) -> httpx.Response:
    """Set-up calls on a busy machine: a 503 (e.g. the gateway shedding load), a 429 or no
    answer is retried after its Retry-After (or 1 s) until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = call()
            if response.status_code not in (429, 503) or time.monotonic() > deadline:
                return response
            pause = float(response.headers.get("Retry-After") or 1)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            pause = 1.0
        time.sleep(min(pause, 5.0))


def create_templates(platform) -> dict[str, str]:
    codes = {"email": helpers.unique("chaos-email"), "push": helpers.unique("chaos-push")}
    versions = {
        "email": {
            "subject": "Chaos {{ seq }}",
            "text_body": "Hello {{ name }}, chaos-seq={{ seq }} run={{ run }}",
            "html_body": "<p>Hello {{ name }}, chaos-seq={{ seq }}</p>",
        },
        "push": {"title": "Chaos {{ seq }}", "body": "Hello {{ name }}, chaos-seq={{ seq }}"},
    }
    headers = helpers.api_key(platform.internal_key)
    with httpx.Client(base_url=platform.url("templates"), headers=headers, timeout=30) as client:
        for channel, code in codes.items():
            body = {
                "code": code,
                "channel": channel,
                "default_language": "en",
                "description": "created by the chaos suite",
                "versions": [{"language": "en", **versions[channel]}],
            }
            helpers.data(patiently(lambda body=body: client.post("/api/v1/templates/", json=body)), 201)
    return codes


def admin_headers(platform) -> dict[str, str]:
    username = helpers.unique("chaos-admin")
    result = platform.manage(
        "admin_service",
        "createadmin",
        "--username",
        username,
        "--email",
        f"{username}@example.com",
        "--password",
        ADMIN_PASSWORD,
        "--noinput",
    )
    if result.returncode != 0:
        raise RuntimeError(f"createadmin failed: {result.stdout}\n{result.stderr}")
    return {"_username": username, **_admin_login(platform, username)}


def _admin_login(platform, username: str) -> dict[str, str]:
    response = patiently(
        lambda: httpx.post(
            f"{platform.url('admin')}/api/v1/admin/login/",
            json={"username": username, "password": ADMIN_PASSWORD},
            timeout=30,
        )
    )
    return {"Authorization": f"Bearer {helpers.access_token_of(helpers.data(response))}"}


def probe_targets(platform, admin: dict[str, str]) -> list[ProbeTarget]:
    internal = helpers.api_key(platform.internal_key)
    sender = helpers.api_key(platform.sender_key)
    lists = {
        "gateway": ("/api/v1/notifications/?limit=1", sender),
        "users": ("/api/v1/users/?limit=1", internal),
        "templates": ("/api/v1/templates/?limit=1", internal),
        "email": ("/api/v1/emails/?limit=1", internal),
        "push": ("/api/v1/pushes/?limit=1", internal),
        "admin": ("/api/v1/admin/dead-letters/?limit=1", admin),
    }
    targets = []
    for service in launcher.SERVICES:
        base = platform.url(service.name)
        path, headers = lists[service.name]
        targets.append(ProbeTarget(service.name, f"{base}/api/v1/health/"))
        targets.append(ProbeTarget(service.name, f"{base}{path}", dict(headers)))
    return targets


# --------------------------------------------------------------------------- the scenario
def fault_plan(profile: Profile, platform, private: dict) -> list[faults.Fault]:
    plan = []
    for at, name in zip(profile.kills_at, KILLED, strict=True):
        if name == "gateway worker":
            plan.append(faults.Fault(at, "kill -9 a gateway worker", faults.kill_gunicorn_worker(platform, "gateway")))
        else:
            plan.append(faults.Fault(at, f"kill -9 {name}", faults.kill_process(platform, name)))
    plan += [
        faults.Fault(
            profile.rabbitmq_at,
            f"RabbitMQ stopped for {profile.rabbitmq_down:g}s",
            faults.stop_server_for(private["rabbitmq"], profile.rabbitmq_down),
        ),
        faults.Fault(
            profile.postgres_at,
            f"PostgreSQL restarted (down {profile.postgres_down:g}s)",
            faults.stop_server_for(private["postgresql"], profile.postgres_down),
        ),
        faults.Fault(
            profile.redis_at,
            f"Redis restarted (down {profile.redis_down:g}s)",
            faults.stop_server_for(private["redis"], profile.redis_down),
        ),
        faults.Fault(
            profile.providers_at,
            f"SMTP answers 451 for {profile.provider_outage:g}s",
            faults.smtp_outage(platform, profile.provider_outage),
        ),
        faults.Fault(
            profile.providers_at,
            f"FCM answers 503 UNAVAILABLE for {profile.provider_outage:g}s",
            faults.fcm_outage(platform, profile.provider_outage),
        ),
    ]
    # Once more, while the backlog of the outage flows out: a consumer killed in the middle
    # of a batch (sent, not yet recorded) is where a second send would come from.
    recovered = profile.providers_at + profile.provider_outage
    for offset, name in ((2, "email-worker"), (4, "push-worker")):
        kill = faults.kill_process(platform, name)
        plan.append(faults.Fault(recovered + offset, f"kill -9 {name} (backlog draining)", kill))
    return plan


def lost_details(platform, lost: list[dict], limit: int = 30) -> None:
    """The gateway's view (status, error, attempts) of the first lost notifications."""
    headers = helpers.api_key(platform.sender_key)
    with httpx.Client(base_url=platform.url("gateway"), headers=headers, timeout=15) as client:
        for item in lost[:limit]:
            try:
                body = client.get(f"/api/v1/notifications/{item['notification_id']}/").json()
                view = body.get("data") or {}
                item["gateway_view"] = {k: view.get(k) for k in ("status", "status_source", "error", "attempts")}
            except (httpx.HTTPError, ValueError) as exc:
                item["gateway_view"] = {"error": f"{type(exc).__name__}: {exc}"}


def run(profile: Profile, out: Path, keep: bool) -> int:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d-%H%M%S")
    workdir = ROOT / "var" / "chaos" / f"{stamp}-{profile.name}"
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"chaos: profile {profile.name}; logs in {workdir}", flush=True)
    env, tuning = platform_env(profile)
    with contextlib.ExitStack() as stack:
        if not keep:
            stack.callback(_remove_data, workdir)
        try:
            private = start_private_servers(workdir, stack)
            point_at(private, tuning)
            platform = stack.enter_context(
                launcher.launch(
                    extra_env=env,
                    failure_tuning=tuning,
                    log_dir=workdir / "platform",
                    exclusive=False,
                    access_log=True,
                    health_timeout=180,
                )
            )
            users = register_users(platform, profile.users)
            templates = create_templates(platform)
            admin = admin_headers(platform)
        except (
            servers.MissingBinary,
            launcher.LaunchError,
            TimeoutError,
            RuntimeError,
            httpx.HTTPError,
            AssertionError,  # a set-up call answered something unexpected (helpers.data says what)
        ) as exc:
            print(f"chaos: could not set up the run: {exc}", file=sys.stderr, flush=True)
            return 2
        admin_user = admin.pop("_username")
        load_started = time.time() + 1.0
        events = faults.EventLog(load_started)
        supervisor = faults.Supervisor(platform, events)
        supervisor.start()
        stack.callback(supervisor.stop)  # before the launcher stops the processes (LIFO)
        prober = Prober(
            probe_targets(platform, admin),
            refresh_headers=lambda t: _admin_login(platform, admin_user) if t.service == "admin" else None,
        )
        prober.start()
        stack.callback(prober.stop)
        injector = faults.FaultInjector(fault_plan(profile, platform, private), events, load_started)
        injector.start()
        stack.callback(injector.stop)

        plan = LoadPlan(
            gateway_url=platform.url("gateway"),
            headers=helpers.api_key(platform.sender_key),
            users=users,
            templates=templates,
            run_id=uuid.uuid4().hex[:8],
            rate=profile.rate,
            duration=profile.duration,
        )
        print(f"chaos: {profile.rate:g}/s for {profile.duration:g}s over {len(users)} users", flush=True)
        time.sleep(max(0.0, load_started - time.time()))
        sent = run_load(plan, threading.Event())
        injector.join()
        load_seconds = time.time() - load_started
        accepted = {s.notification_id: s.channel for s in sent if s.accepted}
        events.add("load-done", f"{len(sent)} requests, {len(accepted)} accepted")
        got = accounting.wait_for_drain(
            platform,
            accepted,
            timeout=profile.drain_timeout,
            quiet=profile.drain_quiet,
            queued=lambda: _queued(platform.env["RABBITMQ_URL"]),
        )
        events.add("drained", "deliveries counted")
        # The dead-letter consumer stores what reached failed.queue; give it a moment to settle.
        deadline = time.monotonic() + 60
        depths, _ = accounting.queue_depths(platform.env["RABBITMQ_URL"])
        while depths.get("failed.queue") and time.monotonic() < deadline:
            time.sleep(2)
            depths, _ = accounting.queue_depths(platform.env["RABBITMQ_URL"])
        depths, stuck = accounting.queue_depths(platform.env["RABBITMQ_URL"], peek=5)
        prober.stop()
        supervisor.stop()
        admin = _admin_login(platform, admin_user)
        letters, letters_source = accounting.dead_letters(
            platform.url("admin"), admin, platform.env["ADMIN_DATABASE_URL"]
        )
        result = accounting.reconcile(sent, got, letters)
        result["dead_letters_read_from"] = letters_source
        result["provider_outage_refusals"] = _outage_refusals(platform)
        lost_details(platform, result["lost_ids"])
        logs = accounting.access_log_errors(workdir / "platform", [s.name for s in launcher.SERVICES])
        result.update(
            {
                "profile": asdict(profile),
                "started_at": datetime.fromtimestamp(load_started, UTC).isoformat(),
                "load_seconds": round(load_seconds, 1),
                "faults": injector.done,
                "restarts": supervisor.restarts,
                "events": events.events,
                "queue_depths_at_end": depths,
                "queue_heads_at_end": stuck,
                "load_server_errors": [
                    {"seq": s.seq, "request_id": s.request_id, "errors": s.server_errors}
                    for s in sent
                    if s.server_errors
                ],
                "load_statuses": _status_counts(sent),
                "prober_counts": {
                    f"{svc} {path} {status}": n for (svc, path, status), n in sorted(prober.counts.items())
                },
                "prober_server_errors": prober.server_errors,
                "access_log": logs,
                "error_log_lines": accounting.error_lines(workdir / "platform"),
                "logs": str(workdir),
            }
        )
        result["server_errors"] = accounting.group_server_errors(
            sent, prober.server_errors, logs, load_started, injector.done
        )
        result["http_500"] = {
            "load": sum(len(s.server_errors) for s in sent),
            "prober": len(prober.server_errors),
            "access_logs": len(logs["errors"]),
        }
        result["checks"] = _checks(result)
        result["passed"] = all(c["ok"] for c in result["checks"])
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{stamp}-{profile.name}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    text = markdown(result)
    stem.with_suffix(".md").write_text(text)
    print(text, flush=True)
    print(f"chaos: wrote {stem}.json and .md; process logs in {workdir}/platform", flush=True)
    return 0 if result["passed"] else 1


def _queued(rabbitmq_url: str) -> int:
    try:
        depths, _ = accounting.queue_depths(rabbitmq_url)
    except Exception as exc:  # the drain goes on; the final accounting reports the broker state
        print(f"chaos: drain: could not read queue depths: {exc}", flush=True)
        return 0
    return sum(n for n in depths.values() if isinstance(n, int))


def _outage_refusals(platform) -> dict[str, int | str]:
    """Commands the loopback servers refused during their timed outages: proof they bit."""
    found: dict[str, int | str] = {}
    for name, url in (("smtp", f"{platform.smtp_api}/health"), ("fcm", f"{platform.fcm_url}/_loopback/health")):
        try:
            found[name] = httpx.get(url, timeout=10).json().get("outage_refusals", "unknown")
        except (httpx.HTTPError, ValueError) as exc:
            found[name] = f"{type(exc).__name__}: {exc}"
    return found


def _status_counts(sent) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in sent:
        for _, status in s.attempts:
            counts[str(status)] = counts.get(str(status), 0) + 1
    return dict(sorted(counts.items()))


def _checks(result: dict) -> list[dict]:
    injected = [f for f in result["faults"] if "error" not in f]
    loopback_restarts = {k: v for k, v in result["restarts"].items() if k.startswith("loopback")}
    return [
        {"check": "0 lost", "ok": result["lost"] == 0, "value": result["lost"]},
        {"check": "0 duplicated", "ok": result["duplicated"] == 0, "value": result["duplicated"]},
        {
            "check": "0 dead letters from transient causes",
            "ok": result["dead_letters_transient"] == 0,
            "value": result["dead_letters_transient"],
        },
        {
            "check": "0 HTTP 500 from any service",
            "ok": sum(result["http_500"].values()) == 0,
            "value": result["http_500"],
        },
        {
            "check": "every fault injected",
            "ok": len(injected) == len(result["faults"]),
            "value": f"{len(injected)}/{len(result['faults'])}",
        },
        {
            "check": "the SMTP and FCM outages refused sends",
            "ok": all(isinstance(n, int) and n > 0 for n in result["provider_outage_refusals"].values()),
            "value": result["provider_outage_refusals"],
        },
        {
            "check": "loopback SMTP/FCM never restarted (their counts would be incomplete)",
            "ok": not loopback_restarts,
            "value": loopback_restarts,
        },
        {"check": "load accepted", "ok": result["accepted"] > 0, "value": result["accepted"]},
    ]


def markdown(result: dict) -> str:
    p = result["profile"]
    lines = [
        f"# Chaos run ({p['name']}): {'PASS' if result['passed'] else 'FAIL'}",
        "",
        f"Started {result['started_at']}; {p['rate']:g} notifications/s (email and push alternately) for "
        f"{p['duration']:g} s over {p['users']} users; logs in `{result['logs']}`.",
        "",
        "| check | result | value |",
        "|---|---|---|",
    ]
    lines += [f"| {c['check']} | {'ok' if c['ok'] else 'FAIL'} | {c['value']} |" for c in result["checks"]]
    lines += [
        "",
        "| figure | value |",
        "|---|---|",
        f"| requests | {result['requests']} |",
        f"| accepted (200/202) | {result['accepted']} {result['accepted_by_channel']} |",
        f"| not accepted (final status) | {result['not_accepted']} {result['not_accepted_by_final_status']} |",
        f"| delivered | {result['delivered']} |",
        f"| lost | {result['lost']} |",
        f"| duplicated | {result['duplicated']} |",
        f"| delivered but never answered 2xx | {len(result['unexpected_deliveries'])} |",
        f"| dead letters (by kind) | {result['dead_letters']} {result['dead_letters_by_kind']} "
        f"(read from the {result['dead_letters_read_from']}) |",
        f"| HTTP 5xx but 503 (load / prober / access logs) | {result['http_500']} |",
        f"| load answers, every attempt | {result['load_statuses']} |",
        f"| process restarts by the supervisor | {result['restarts']} |",
        f"| queue depths at the end | { {k: v for k, v in result['queue_depths_at_end'].items() if v} } |",
        f"| ERROR log lines per process | {result['error_log_lines']} |",
        "",
        "## Faults",
        "",
        "| at (s) | fault | took (s) | details |",
        "|---|---|---|---|",
    ]
    for f in result["faults"]:
        details = {k: v for k, v in f.items() if k not in ("fault", "started_at", "seconds", "planned_at")}
        lines.append(f"| {f['started_at']} | {f['fault']} | {f['seconds']} | {details} |")
    if result["dead_letter_reasons"]:
        lines += ["", "## Dead-letter reasons", ""]
        lines += [f"- {n} x `{reason}`" for reason, n in result["dead_letter_reasons"].items()]
    if result["lost_ids"]:
        lines += ["", f"## Lost ({result['lost']}; first 30)", ""]
        for item in result["lost_ids"][:30]:
            lines.append(
                f"- `{item['notification_id']}` {item['channel']} seq {item['seq']}: gateway "
                f"{item.get('gateway_view')}; dead letters {item['dead_letters'] or 'none'}"
            )
    if result["queue_heads_at_end"]:
        lines += ["", "## Messages still queued at the end (first 5 of each queue)", ""]
        for queue, messages in result["queue_heads_at_end"].items():
            for m in messages:
                lines.append(
                    f"- `{queue}`: `{m['notification_id']}` expiration {m['expiration_ms']} ms, "
                    f"headers {m['headers']}, history ...{m['last_history'][-160:]}"
                )
    if result["duplicated_ids"]:
        lines += ["", f"## Duplicated ({result['duplicated']}; first 30)", ""]
        lines += [f"- `{d['notification_id']}` {d['channel']} x{d['copies']}" for d in result["duplicated_ids"][:30]]
    if result["server_errors"]:
        lines += [
            "",
            "## HTTP 5xx but 503, grouped (seconds after the load started)",
            "",
            "| seen in | service | path | status | cause | count | first-last (s) | after fault |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for g in result["server_errors"][:60]:
            cause = (g["cause"] or "").replace("|", "/")
            lines.append(
                f"| {g['source']} | {g['service']} | {g['path']} | {g['status'] or ''} | {cause} | {g['count']} "
                f"| {g['first_s']}-{g['last_s']} | {g['after_fault']} |"
            )
    lines += ["", "## Events", ""]
    lines += [f"- {e['t']}s {e['kind']}: {e['what']}" for e in result["events"] if e["kind"] != "fault"]
    return "\n".join(lines) + "\n"


def _remove_data(workdir: Path) -> None:
    """Keep the logs, drop the servers' data directories."""
    for name in ("postgres", "redis", "rabbitmq"):
        shutil.rmtree(workdir / name, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="short")
    parser.add_argument("--rate", type=float, help="override the profile's notifications per second")
    parser.add_argument("--provider-outage", type=float, help="override the SMTP/FCM outage seconds")
    parser.add_argument("--out", default=str(RESULTS), help="directory for the result files")
    parser.add_argument("--keep-data", action="store_true", help="keep the private servers' data directories")
    args = parser.parse_args(argv)
    profile = PROFILES[args.profile]
    if args.rate:
        profile = replace(profile, rate=args.rate)
    if args.provider_outage:
        profile = replace(profile, provider_outage=args.provider_outage)

    # Ctrl-C and SIGTERM unwind through every cleanup (processes, private servers).
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    try:
        return run(profile, Path(args.out), args.keep_data)
    except KeyboardInterrupt:
        print("chaos: interrupted; everything it started was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
