"""Two of every process over one backlog (issue 17, "Replicas without surprises").

On the session's platform this module starts a second gateway (a gunicorn of its own, on its
own port), a second outbox relay, email consumer, push consumer and dead-letter consumer.
With the consumers and relays stopped, the two gateways accept a backlog (``REPLICAS_BACKLOG``, 1,000 by
default; ``make test-replicas`` runs 5,000), part of it scheduled so the two relays publish
it, and 50 to mailboxes the SMTP server refuses with 550. Then relays and consumers start
together and compete for the one backlog. What must hold: every notification arrives once at the
loopback SMTP/FCM server (counted by notification id), every outbox row was published once,
each dead letter is stored once by the two dead-letter consumers and replayed once (two
replays at once: one wins, one 409), and after the fix each replayed email arrives once.
State that lives per process would break with copies: duplicate request ids sent to both
gateways at once give one notification, and the per-user rate limit counts across both.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from helpers import (
    create_template,
    data,
    fcm_messages,
    register_user,
    smtp_control,
    smtp_messages,
    unique,
    wait_for,
)

BACKLOG = int(os.environ.get("REPLICAS_BACKLOG", "1000"))
DEAD_LETTERS = 50
PUSH_SHARE = 10  # one notification in ten is a push
SCHEDULED_SHARE = 3  # one in three is scheduled, so the relays (not the gateways) publish it
CLIENT_THREADS = 8
# Scheduled rows are due this long after they are posted: ahead enough that a busy gateway
# still finds send_at in the future, short enough that most are due when the relays start.
SCHEDULE_LEAD = timedelta(seconds=10)
# Generous on a shared two-core machine; each wait ends as soon as its condition holds.
DRAIN_TIMEOUT = 120 + BACKLOG * 0.12
RELAY_TUNING = {"OUTBOX_RELAY_BATCH_SIZE": "10"}
COPIED_WORKERS = ("outbox-relay", "email-worker", "push-worker", "dead-letter-consumer")
CONSUMERS = ("email-worker", "push-worker")


# --------------------------------------------------------------------------- the copies
@pytest.fixture(scope="module")
def replicas(platform):
    """A second gateway, relay and consumer of each kind; stopped again after this module.

    Both relays take small batches here, so a few hundred due rows are many batches: each
    relay then takes some while the other holds its own (FOR UPDATE SKIP LOCKED)."""
    relay = platform.process("outbox-relay")
    relay_env = relay.env
    relay.stop()
    relay.start({**relay_env, **RELAY_TUNING})
    copies = [
        platform.start_copy(name, env=RELAY_TUNING if name == "outbox-relay" else None)
        for name in ("gateway", *COPIED_WORKERS)
    ]
    try:
        with httpx.Client(timeout=5) as client:
            wait_for(
                lambda: client.get(f"{platform.url('gateway-2')}/api/v1/health/").status_code == 200,
                timeout=90,
                describe="the second gateway to be healthy",
            )
        yield {copy.name: copy for copy in copies}
    finally:
        for copy in copies:
            platform.stop_copy(copy)
        relay.stop()
        relay.start(relay_env)


@pytest.fixture(scope="module")
def gateways(platform, replicas):
    with (
        httpx.Client(base_url=platform.url("gateway"), timeout=30) as first,
        httpx.Client(base_url=platform.url("gateway-2"), timeout=30) as second,
    ):
        yield first, second


def _processes(platform, kind: str):
    return [p for p in platform.processes if p.name == kind or p.name.startswith(f"{kind}-")]


def _cpu_seconds(process) -> float:
    """User + system CPU of a process so far (Linux /proc), to see that each copy worked."""
    with open(f"/proc/{process.popen.pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _consumer_count(platform, queue: str) -> int:
    from notification_common.rabbitmq import connect

    connection = connect(platform.env["RABBITMQ_URL"])
    try:
        return connection.channel().queue_declare(queue, passive=True).method.consumer_count
    finally:
        connection.close()


def _log_since(process, offset: int) -> list[dict]:
    with open(process.log_path, "rb") as log:
        log.seek(offset)
        lines = log.read().decode(errors="replace").splitlines()
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


# --------------------------------------------------------------------------- the backlog
def _register(users: httpx.Client, *, push_token: str | None = None) -> dict:
    body = {
        "name": "Replica Reader",
        "email": f"{unique('replica')}@example.com",
        "password": "e2e-Correct-Horse-42",
        "preferences": {"email": True, "push": True},
    }
    if push_token:
        body["push_token"] = push_token
    user = data(_retry_shed(lambda: users.post("/api/v1/users/", json=body)), 201)
    return {"id": str(user["id"]), "email": body["email"], "token": push_token}


def _retry_shed(send) -> httpx.Response:
    """Send as a well-behaved client: a 503 ``overloaded`` (shed before anything was stored, on
    a busy machine) is sent again, the same request, after its Retry-After."""
    deadline = time.monotonic() + 120
    while True:
        response = send()
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        time.sleep(float(response.headers.get("Retry-After", "1")))


def _post_accepted(client: httpx.Client, body: dict, headers: dict) -> httpx.Response:
    return _retry_shed(lambda: client.post("/api/v1/notifications/", json=body, headers=headers))


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def backlog(platform, replicas, gateways, users, templates, internal, sender, admin, admin_auth):
    """Fill the backlog with the consumers and relays stopped, start them together, wait for the drain.

    Returns what was sent: ids by kind, and what the relays and consumers logged meanwhile."""
    email_code, push_code = unique("replica_mail").replace("-", "_"), unique("replica_push").replace("-", "_")
    create_template(
        templates,
        internal,
        code=email_code,
        channel="email",
        versions={"en": {"subject": "Order {{ n }}", "text_body": "Hello, order {{ n }} shipped."}},
    )
    create_template(
        templates,
        internal,
        code=push_code,
        channel="push",
        versions={"en": {"title": "Order {{ n }}", "body": "Order {{ n }} shipped."}},
    )
    with ThreadPoolExecutor(2) as pool:
        good = list(pool.map(lambda _: _register(users, push_token=unique("replica-device")), range(10)))
        refused = list(pool.map(lambda _: _register(users), range(5)))
    for user in refused:  # a permanent failure: SMTP 550 for these mailboxes
        smtp_control(platform.smtp_api, reject=user["email"], code=550, message="No such user here")

    # The consumers and relays stop (each finishes what it holds); the gateways keep running.
    consumers = [p for kind in CONSUMERS for p in _processes(platform, kind)]
    relays = _processes(platform, "outbox-relay")
    try:
        for process in consumers + relays:
            process.stop()
        return _fill_and_drain(
            platform, gateways, sender, admin, admin_auth, consumers, relays, good, refused, (email_code, push_code)
        )
    finally:  # whatever happened, the platform goes on with every process running
        for process in consumers + relays:
            if not process.alive:
                process.start(process.env)


def _fill_and_drain(platform, gateways, sender, admin, admin_auth, consumers, relays, good, refused, codes):
    email_code, push_code = codes
    relay_offsets = {p.name: p.log_path.stat().st_size for p in relays}
    smtp_before = httpx.get(f"{platform.smtp_api}/health", timeout=5).json()["messages"]
    fcm_before = httpx.get(f"{platform.fcm_url}/_loopback/health", timeout=5).json()["messages"]

    # Plan: dead letters spread through the backlog; every PUSH_SHARE-th a push; the
    # SCHEDULED_SHARE-th of the rest scheduled a little ahead (most are due when the relays start).
    plan = []
    for n in range(BACKLOG):
        if n % (BACKLOG // DEAD_LETTERS) == 0 and n // (BACKLOG // DEAD_LETTERS) < DEAD_LETTERS:
            plan.append(("dead", refused[n % len(refused)], n))
        elif n % PUSH_SHARE == 1:
            plan.append(("push", good[n % len(good)], n))
        elif n % SCHEDULED_SHARE == 0:
            plan.append(("scheduled", good[n % len(good)], n))
        else:
            plan.append(("email", good[n % len(good)], n))
    local = threading.local()

    def post(item):
        kind, user, n = item
        if not hasattr(local, "clients"):
            local.clients = [httpx.Client(base_url=str(g.base_url), timeout=60) for g in gateways]
        body = {
            "notification_type": "push" if kind == "push" else "email",
            "user_id": user["id"],
            "template_code": push_code if kind == "push" else email_code,
            "variables": {"n": str(n)},
            "request_id": unique(f"replica-{n}"),
        }
        if kind == "scheduled":
            body["send_at"] = _rfc3339(datetime.now(UTC) + SCHEDULE_LEAD)
        return kind, data(_post_accepted(local.clients[n % 2], body, sender), 202)["notification_id"]

    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        accepted = list(pool.map(post, plan))
    ids = {kind: [nid for k, nid in accepted if k == kind] for kind in ("email", "scheduled", "push", "dead")}

    # All relays and consumers start at once and compete for one backlog.
    for process in relays + consumers:
        process.start(process.env)
    for queue in ("email.queue", "push.queue"):
        wait_for(lambda q=queue: _consumer_count(platform, q) == 2, timeout=60, describe=f"two consumers of {queue}")
    # CPU from here on: both are attached, so each one's share says whether it took part.
    cpu_attached = {p.name: _cpu_seconds(p) for p in consumers}

    emails_expected = len(ids["email"]) + len(ids["scheduled"])
    wait_for(
        lambda: httpx.get(f"{platform.smtp_api}/health", timeout=5).json()["messages"] - smtp_before >= emails_expected,
        timeout=DRAIN_TIMEOUT,
        interval=1,
        describe=f"{emails_expected} emails at the SMTP server",
    )
    wait_for(
        lambda: (
            httpx.get(f"{platform.fcm_url}/_loopback/health", timeout=5).json()["messages"] - fcm_before
            >= len(ids["push"])
        ),
        timeout=DRAIN_TIMEOUT,
        interval=1,
        describe=f"{len(ids['push'])} pushes at the FCM server",
    )
    consumer_cpu = {p.name: _cpu_seconds(p) - cpu_attached[p.name] for p in consumers}
    # The refused ones end as dead letters (waited for here: later tests reset the SMTP server).
    letters = {}

    def all_stored():
        for nid in ids["dead"]:
            if nid not in letters:
                rows = data(
                    admin.get("/api/v1/admin/dead-letters/", params={"notification_id": nid}, headers=admin_auth)
                )
                if not rows:
                    return False
                letters[nid] = rows
        return True

    wait_for(all_stored, timeout=DRAIN_TIMEOUT, interval=1, describe="a dead letter for each refused email")
    return {
        "ids": ids,
        "refused": refused,
        "letters": letters,
        "relays": {p.name: _log_since(p, relay_offsets[p.name]) for p in relays},
        "consumer_cpu": consumer_cpu,
    }


# --------------------------------------------------------------------------- the checks
def test_every_notification_of_the_backlog_is_delivered_once(platform, backlog):
    ids = backlog["ids"]
    emails = set(ids["email"]) | set(ids["scheduled"])
    # then each email arrives once (nothing for the refused mailboxes), each push once
    arrived = Counter(m["notification_id"] for m in smtp_messages(platform.smtp_api, timeout=60))
    assert {nid: arrived[nid] for nid in emails if arrived[nid] != 1} == {}
    assert [nid for nid in ids["dead"] if arrived[nid]] == []
    pushed = Counter(m["message"]["data"]["notification_id"] for m in fcm_messages(platform.fcm_url, timeout=60))
    assert {nid: pushed[nid] for nid in ids["push"] if pushed[nid] != 1} == {}
    # and both email consumers did part of the work (CPU each spent once both were attached;
    # the pushes are too few for such a measure)
    spent = {name: s for name, s in backlog["consumer_cpu"].items() if name.startswith("email-worker")}
    assert len(spent) == 2 and min(spent.values()) > 0.1 * sum(spent.values()), spent


def test_every_outbox_row_is_published_once_and_the_two_relays_share_the_scheduled_ones(platform, backlog):
    import psycopg

    ids = backlog["ids"]
    everything = [nid for kind in ids.values() for nid in kind]
    with psycopg.connect(platform.env["GATEWAY_DATABASE_URL"]) as conn:
        rows = conn.execute(
            "SELECT notification_id::text, published_at IS NOT NULL, attempts, due_at IS NOT NULL "
            "FROM notifications_outboxmessage WHERE notification_id::text = ANY(%s)",
            (everything,),
        ).fetchall()
    assert len(rows) == len(everything)
    # then every row was published, by exactly one publish (gateway or relay), never twice
    assert [row for row in rows if not row[1] or row[2] != 1] == []
    assert sum(1 for row in rows if row[3]) == len(ids["scheduled"])
    # and the two relays published the scheduled rows between them, each a part, none twice
    relayed = {
        name: sum(r.get("published", 0) for r in records if r.get("message") == "outbox relayed")
        for name, records in backlog["relays"].items()
    }
    assert sum(relayed.values()) == len(ids["scheduled"]), relayed
    assert min(relayed.values()) > 0, relayed


def test_dead_letters_are_stored_once_and_replayed_once(platform, backlog, admin_auth):
    ids = backlog["ids"]["dead"]
    assert len(ids) == DEAD_LETTERS
    # then each permanent failure is stored once, though two dead-letter consumers ran
    letters = backlog["letters"]
    assert {nid: len(rows) for nid, rows in letters.items() if len(rows) != 1} == {}
    assert all("550" in rows[0]["reason"] for rows in letters.values())

    # when the mailboxes exist again and each dead letter is replayed twice at the same moment
    for user in backlog["refused"]:
        smtp_control(platform.smtp_api, accept=user["email"])
    barrier = threading.Barrier(2)

    def replay(letter_id):
        with httpx.Client(base_url=platform.url("admin"), timeout=30) as client:
            barrier.wait()
            return client.post(f"/api/v1/admin/dead-letters/{letter_id}/replay/", headers=admin_auth).status_code

    for rows in letters.values():
        with ThreadPoolExecutor(2) as pool:
            statuses = sorted(pool.map(replay, [rows[0]["id"]] * 2))
        # then one replay wins and the other is refused
        assert statuses == [200, 409]

    # and each replayed email arrives once
    def all_arrived():
        # By mailbox: the server filters on the envelope, cheap beside listing the whole backlog.
        arrived = Counter(
            m["notification_id"]
            for user in backlog["refused"]
            for m in smtp_messages(platform.smtp_api, to=user["email"], timeout=30)
        )
        return arrived if all(arrived[nid] for nid in ids) else None

    arrived = wait_for(all_arrived, timeout=120, interval=1, describe="every replayed email")
    assert {nid: arrived[nid] for nid in ids if arrived[nid] != 1} == {}
    # and a later replay is refused too
    with httpx.Client(base_url=platform.url("admin"), timeout=30) as admin:
        again = admin.post(f"/api/v1/admin/dead-letters/{letters[ids[0]][0]['id']}/replay/", headers=admin_auth)
    assert again.status_code == 409, again.text


def test_a_duplicate_request_id_sent_to_both_gateways_at_once_gives_one_notification(
    platform, gateways, users, templates, internal, sender
):
    # given a user and twenty request ids, each posted to both gateways at the same moment
    code = unique("replica_dup").replace("-", "_")
    create_template(
        templates, internal, code=code, channel="email", versions={"en": {"subject": "Hi", "text_body": "Hi"}}
    )
    user = _register(users)
    barrier = threading.Barrier(2)

    def post(args):
        base_url, request_id = args
        body = {"notification_type": "email", "user_id": user["id"], "template_code": code, "request_id": request_id}
        with httpx.Client(base_url=base_url, timeout=30) as client:
            barrier.wait()
            response = _post_accepted(client, body, sender)
        return response.status_code, data(response, (200, 202))["notification_id"]

    outcomes = []
    for n in range(20):
        request_id = unique(f"dup-{n}")
        with ThreadPoolExecutor(2) as pool:
            outcomes.append(list(pool.map(post, [(str(g.base_url), request_id) for g in gateways])))

    # then each pair names one notification: one accepted (202), the other the original (200)
    for pair in outcomes:
        assert sorted(status for status, _ in pair) == [200, 202], pair
        assert pair[0][1] == pair[1][1], pair
    # and each is delivered once
    ids = {pair[0][1] for pair in outcomes}

    def all_arrived():
        messages = smtp_messages(platform.smtp_api, to=user["email"])
        return messages if len(messages) >= len(ids) else None

    messages = wait_for(all_arrived, timeout=60, describe="the twenty emails")
    assert Counter(m["notification_id"] for m in messages) == dict.fromkeys(ids, 1)


def test_the_per_user_rate_limit_counts_across_both_gateways(platform, gateways, users, templates, internal):
    # given a user sending to themself, with the per-user limit of the platform
    limit = int(platform.env.get("RATE_LIMIT_PER_USER", "60"))
    code = unique("replica_self").replace("-", "_")
    create_template(
        templates,
        internal,
        code=code,
        channel="email",
        user_triggerable=True,
        versions={"en": {"subject": "Note", "text_body": "A note to self."}},
    )
    user = register_user(users)

    # when they send limit + 10 requests at once, half through each gateway
    def post(n):
        body = {"notification_type": "email", "user_id": user.id, "template_code": code, "request_id": unique("rl")}
        with httpx.Client(base_url=str(gateways[n % 2].base_url), timeout=60) as client:
            return _post_accepted(client, body, user.auth).status_code

    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        statuses = Counter(pool.map(post, range(limit + 10)))

    # then exactly `limit` are accepted in all (one counter in Redis), the rest refused
    assert statuses == {202: limit, 429: 10}
