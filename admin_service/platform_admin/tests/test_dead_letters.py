"""Dead letters through the real broker: stored from failed.queue, listed, replayed once."""

import json
import os
import signal
import threading
import time
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import OperationalError

from notification_common.rabbitmq import (
    EMAIL_QUEUE,
    FAILED_QUEUE,
    PUSH_QUEUE,
    BaseConsumer,
    PermanentError,
    Publisher,
    connect,
)
from notification_devtools.testing import assert_envelope
from notification_devtools.testing.rabbit import drain
from notification_devtools.testing.waiting import wait_until
from platform_admin import consumer as dead_letter_consumer
from platform_admin.constants import AuditAction
from platform_admin.consumer import DeadLetterConsumer
from platform_admin.models import AuditEntry, DeadLetter
from platform_admin.tests.factories import DeadLetterFactory

pytestmark = pytest.mark.django_db

DEAD_LETTERS = "/api/v1/admin/dead-letters/"


def _message(notification_type="email", **extra) -> dict:
    return {
        "schema": 1,
        "notification_id": str(uuid.uuid4()),
        "notification_type": notification_type,
        "user_id": str(uuid.uuid4()),
        "template_code": "welcome",
        "variables": {"name": "Ada"},
        **extra,
    }


def _dead_letter_headers(queue=EMAIL_QUEUE, reason="smtp 550: no such mailbox", kind="permanent", attempt=3) -> dict:
    """The headers notification_common's consumer base writes when it dead-letters."""
    history = [
        {"attempt": n, "error": "smtp 451", "at": "2026-11-24T01:00:00+00:00", "kind": "transient"} for n in (1, 2)
    ]
    history.append({"attempt": attempt, "error": reason, "at": "2026-11-24T01:00:05+00:00", "kind": kind})
    return {
        "x-request-id": "trace-123",
        "x-failure-reason": reason,
        "x-failure-kind": kind,
        "x-attempt": attempt,
        "x-history": json.dumps(history),
        "x-original-queue": queue,
        "x-failed-at": "2026-11-24T01:00:05.000+00:00",
    }


def _publish_dead_letter(url, body, *, message_id=None, **header_args) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with Publisher(url) as publisher:
        publisher.publish(FAILED_QUEUE, raw, headers=_dead_letter_headers(**header_args), message_id=message_id)


def _consume(url, count: int) -> int:
    return DeadLetterConsumer(url).run(max_messages=count, idle_timeout=3)


class _RefusingEmailWorker(BaseConsumer):
    queue = EMAIL_QUEUE

    def handle(self, message):
        raise PermanentError("template 'welcome' has no language 'xx'")


# -- consuming ------------------------------------------------------------------------------
def test_a_message_dead_lettered_by_a_worker_is_stored_with_its_failure(rabbit_channel, rabbitmq_url):
    body = _message()
    with Publisher(rabbitmq_url) as publisher:
        publisher.publish(EMAIL_QUEUE, body, message_id=body["notification_id"], headers={"x-request-id": "trace-9"})
    _RefusingEmailWorker(rabbitmq_url).run(max_messages=1, idle_timeout=3)

    assert _consume(rabbitmq_url, 1) == 1

    dead_letter = DeadLetter.objects.get()
    assert dead_letter.notification_id == dead_letter.message_id == body["notification_id"]
    assert (dead_letter.channel, dead_letter.original_queue) == ("email", EMAIL_QUEUE)
    assert dead_letter.reason == "template 'welcome' has no language 'xx'"
    assert (dead_letter.failure_kind, dead_letter.attempts) == ("permanent", 1)
    assert dead_letter.history[-1]["error"] == dead_letter.reason
    assert dead_letter.headers["x-request-id"] == "trace-9"
    assert json.loads(dead_letter.body) == body
    assert drain(rabbit_channel, FAILED_QUEUE) == []  # acked


def test_headers_of_a_dead_letter_fill_every_field(rabbit_channel, rabbitmq_url):
    body = _message("push")
    _publish_dead_letter(
        rabbitmq_url, body, message_id=body["notification_id"], queue=PUSH_QUEUE, kind="exhausted", attempt=5
    )

    _consume(rabbitmq_url, 1)

    dead_letter = DeadLetter.objects.get()
    assert (dead_letter.channel, dead_letter.failure_kind, dead_letter.attempts) == ("push", "exhausted", 5)
    assert [entry["attempt"] for entry in dead_letter.history] == [1, 2, 5]
    assert dead_letter.failed_at.isoformat() == "2026-11-24T01:00:05+00:00"


def test_a_redelivered_dead_letter_is_stored_once(rabbit_channel, rabbitmq_url):
    body = _message()
    for _ in range(2):
        _publish_dead_letter(rabbitmq_url, body, message_id=body["notification_id"])

    _consume(rabbitmq_url, 2)

    assert DeadLetter.objects.count() == 1
    assert drain(rabbit_channel, FAILED_QUEUE) == []


def test_a_malformed_message_is_stored_as_text(rabbit_channel, rabbitmq_url):
    _publish_dead_letter(rabbitmq_url, b"\xff{not json", reason="body is not valid JSON", kind="malformed")

    _consume(rabbitmq_url, 1)

    dead_letter = DeadLetter.objects.get()
    assert (dead_letter.channel, dead_letter.failure_kind, dead_letter.message_id) == ("email", "malformed", None)
    assert dead_letter.body.endswith("{not json")


def test_a_message_stays_in_the_queue_until_it_is_stored(rabbit_channel, rabbitmq_url, monkeypatch):
    body = _message()
    _publish_dead_letter(rabbitmq_url, body, message_id=body["notification_id"])
    real_record = dead_letter_consumer.dead_letter_record
    calls = []

    def database_down_once(**fields):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("connection refused")
        return real_record(**fields)

    monkeypatch.setattr(dead_letter_consumer, "dead_letter_record", database_down_once)
    monkeypatch.setattr(DeadLetterConsumer, "failure_pause_seconds", 0.05)

    assert _consume(rabbitmq_url, 1) == 1

    assert len(calls) == 2  # requeued after the failure, stored on redelivery
    assert DeadLetter.objects.count() == 1
    assert drain(rabbit_channel, FAILED_QUEUE) == []


def _consumers_of(url: str, queue: str) -> int:
    with connect(url) as connection:
        return connection.channel().queue_declare(queue, passive=True).method.consumer_count


# Only a safety net, so a command that ignores SIGTERM fails the test instead of hanging it.
SAFETY_IDLE_TIMEOUT = 60.0
# SIGTERM is honoured within about a second (one poll of the broker); this leaves room for a
# loaded machine and is still far below SAFETY_IDLE_TIMEOUT, so only SIGTERM can end it in time.
STOP_BOUND_SECONDS = 10.0


@pytest.mark.django_db(transaction=True)  # the stored row is committed, so the watcher sees it
def test_the_command_stores_what_arrives_and_stops_on_sigterm(rabbit_channel, rabbitmq_url):
    body = _message()
    seen: dict = {}
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler_installed() -> bool:
        return signal.getsignal(signal.SIGTERM) is not previous[signal.SIGTERM]

    def publish_then_terminate():
        from django.db import connection

        try:
            # The command is consuming: its SIGTERM handler is installed and a message now arrives.
            wait_until(
                lambda: handler_installed() and _consumers_of(rabbitmq_url, FAILED_QUEUE) == 1,
                timeout=30,
                what="the command consuming failed.queue",
            )
            _publish_dead_letter(rabbitmq_url, body, message_id=body["notification_id"])
            seen["stored"] = wait_until(
                lambda: DeadLetter.objects.filter(message_id=body["notification_id"]).exists(),
                timeout=30,
                what="the dead letter stored",
            )
        except AssertionError as exc:
            seen["error"] = str(exc)
        finally:
            connection.close()
        if handler_installed():  # never the test runner's own SIGTERM
            seen["sigterm_at"] = time.monotonic()
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=publish_then_terminate)
    out = StringIO()
    try:
        thread.start()
        call_command("consume_dead_letters", f"--idle-timeout={SAFETY_IDLE_TIMEOUT}", stdout=out)
        returned_at = time.monotonic()
    finally:
        thread.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    assert "error" not in seen, seen.get("error")
    assert seen["stored"] and "sigterm_at" in seen
    assert returned_at - seen["sigterm_at"] < STOP_BOUND_SECONDS  # SIGTERM ended it, not the idle timeout
    assert out.getvalue().strip() == "stored 1 dead letter(s)"
    assert DeadLetter.objects.get().message_id == body["notification_id"]
    assert drain(rabbit_channel, FAILED_QUEUE) == []  # acked before it stopped


# -- listing --------------------------------------------------------------------------------
def test_list_filters_by_reason_channel_and_replayed(admin_api):
    DeadLetterFactory(reason="smtp 550 mailbox unavailable")
    DeadLetterFactory(channel="push", original_queue=PUSH_QUEUE, reason="fcm UNREGISTERED")
    replayed = DeadLetterFactory(reason="smtp 550 again")
    replayed.replayed_at = replayed.received_at
    replayed.save()

    by_reason = admin_api.get(DEAD_LETTERS, {"reason": "550"}).json()
    by_channel = admin_api.get(DEAD_LETTERS, {"channel": "push"}).json()
    pending = admin_api.get(DEAD_LETTERS, {"replayed": "false"}).json()

    assert by_reason["meta"]["total"] == 2
    assert [d["reason"] for d in by_channel["data"]] == ["fcm UNREGISTERED"]
    assert pending["meta"]["total"] == 2


@pytest.mark.parametrize("query, field", [({"channel": "sms"}, "channel"), ({"replayed": "maybe"}, "replayed")])
def test_list_refuses_bad_filters_naming_them(admin_api, query, field):
    body = assert_envelope(admin_api.get(DEAD_LETTERS, query), status=400, error="validation_error")

    assert field in body["data"]


def test_detail_shows_body_and_history(admin_api):
    dead_letter = DeadLetterFactory(history=[{"attempt": 1, "error": "boom"}])

    data = assert_envelope(admin_api.get(f"{DEAD_LETTERS}{dead_letter.pk}/"), status=200)["data"]

    assert data["history"] == [{"attempt": 1, "error": "boom"}]
    assert json.loads(data["body"])["notification_id"] == dead_letter.notification_id


# -- replay ---------------------------------------------------------------------------------
def test_replay_republishes_the_original_body_with_fresh_headers(admin_api, rabbit_channel, rabbitmq_url):
    body = _message()
    _publish_dead_letter(rabbitmq_url, body, message_id=body["notification_id"])
    _consume(rabbitmq_url, 1)
    dead_letter = DeadLetter.objects.get()

    response = admin_api.post(f"{DEAD_LETTERS}{dead_letter.pk}/replay/")

    data = assert_envelope(response, status=200)["data"]
    [(payload, properties)] = drain(rabbit_channel, EMAIL_QUEUE)
    assert payload == body
    assert properties.message_id == body["notification_id"]
    assert properties.headers["x-request-id"] == "trace-123"
    assert not {"x-attempt", "x-history", "x-failure-reason"} & set(properties.headers)
    assert data["replayed_at"] is not None and data["replay_count"] == 1
    entry = AuditEntry.objects.get(action=AuditAction.DEAD_LETTER_REPLAYED)
    assert (entry.actor, entry.target) == ("ada", f"dead_letter:{dead_letter.pk}")


def test_a_second_replay_is_refused_and_publishes_nothing(admin_api, rabbit_channel):
    dead_letter = DeadLetterFactory()
    admin_api.post(f"{DEAD_LETTERS}{dead_letter.pk}/replay/")

    response = admin_api.post(f"{DEAD_LETTERS}{dead_letter.pk}/replay/")

    assert_envelope(response, status=409, error="already_replayed")
    assert len(drain(rabbit_channel, EMAIL_QUEUE)) == 1


def test_replay_of_an_unknown_dead_letter_is_404(admin_api):
    assert_envelope(admin_api.post(f"{DEAD_LETTERS}{uuid.uuid4()}/replay/"), status=404, error="not_found")


def test_replay_with_the_broker_down_is_503_and_leaves_it_replayable(admin_api, settings, rabbit_channel):
    dead_letter = DeadLetterFactory()
    settings.NOTIFICATION_COMMON = dict(settings.NOTIFICATION_COMMON, RABBITMQ_URL="amqp://guest:guest@127.0.0.1:1/x")

    response = admin_api.post(f"{DEAD_LETTERS}{dead_letter.pk}/replay/")

    assert_envelope(response, status=503, error="dependency_unavailable")
    dead_letter.refresh_from_db()
    assert (dead_letter.replayed_at, dead_letter.replay_count) == (None, 0)
    assert not AuditEntry.objects.filter(action=AuditAction.DEAD_LETTER_REPLAYED).exists()


def test_a_dead_letter_from_an_unknown_queue_is_not_replayable(admin_api):
    dead_letter = DeadLetterFactory(channel="unknown", original_queue="")

    assert_envelope(admin_api.post(f"{DEAD_LETTERS}{dead_letter.pk}/replay/"), status=422, error="not_replayable")


def test_bulk_replay_says_what_happened_to_each_id(admin_api, rabbit_channel):
    email, push = DeadLetterFactory(), DeadLetterFactory(channel="push", original_queue=PUSH_QUEUE)
    done = DeadLetterFactory()
    admin_api.post(f"{DEAD_LETTERS}{done.pk}/replay/")
    missing = uuid.uuid4()

    response = admin_api.post(
        f"{DEAD_LETTERS}replay/", {"ids": [str(email.pk), str(push.pk), str(done.pk), str(missing)]}
    )

    data = assert_envelope(response, status=200)["data"]
    assert sorted(data["replayed"]) == sorted([str(email.pk), str(push.pk)])
    assert (data["already_replayed"], data["not_found"], data["failed"]) == ([str(done.pk)], [str(missing)], [])
    assert len(drain(rabbit_channel, EMAIL_QUEUE)) == 2 and len(drain(rabbit_channel, PUSH_QUEUE)) == 1


@pytest.mark.parametrize("body", [{}, {"ids": []}, {"ids": ["nope"]}])
def test_bulk_replay_refuses_bad_ids(admin_api, body):
    assert "ids" in assert_envelope(admin_api.post(f"{DEAD_LETTERS}replay/", body), status=400)["data"]


def test_a_message_that_fails_again_after_a_replay_reopens_its_dead_letter(admin_api, rabbit_channel, rabbitmq_url):
    body = _message()
    _publish_dead_letter(rabbitmq_url, body, message_id=body["notification_id"], reason="first")
    _consume(rabbitmq_url, 1)
    dead_letter = DeadLetter.objects.get()
    admin_api.post(f"{DEAD_LETTERS}{dead_letter.pk}/replay/")
    drain(rabbit_channel, EMAIL_QUEUE)

    _publish_dead_letter(rabbitmq_url, body, message_id=body["notification_id"], reason="second")
    _consume(rabbitmq_url, 1)

    dead_letter.refresh_from_db()
    assert (dead_letter.reason, dead_letter.replayed_at, dead_letter.replay_count) == ("second", None, 1)
    assert_envelope(admin_api.post(f"{DEAD_LETTERS}{dead_letter.pk}/replay/"), status=200)


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_replays_publish_once(admin_api, rabbit_channel):
    dead_letter = DeadLetterFactory()
    barrier = threading.Barrier(4)
    statuses = []

    def click():
        from django.db import connection

        barrier.wait()
        try:
            statuses.append(admin_api.post(f"{DEAD_LETTERS}{dead_letter.pk}/replay/").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(statuses) == [200, 409, 409, 409]
    assert len(drain(rabbit_channel, EMAIL_QUEUE)) == 1
    assert DeadLetter.objects.get().replay_count == 1
