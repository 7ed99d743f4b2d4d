"""Dead letters that cannot be stored as they came are stored reduced, never looped; an outage
of the database requeues them instead; only what cannot be stored at all is parked."""

import base64
import json
import threading
import time
import uuid

import pytest
from django.db import DataError, OperationalError

from notification_common.rabbitmq import EMAIL_QUEUE, FAILED_PARKED_QUEUE, FAILED_QUEUE, Publisher
from notification_common.rabbitmq.consumer import MESSAGES
from notification_devtools.testing import assert_envelope
from notification_devtools.testing.rabbit import drain
from notification_devtools.testing.tcp_proxy import database_proxy  # noqa: F401 - fixture
from platform_admin import consumer as dead_letter_consumer
from platform_admin.constants import BodyEncoding
from platform_admin.consumer import DeadLetterConsumer, reduced_dead_letter_fields
from platform_admin.models import DeadLetter
from platform_admin.tests.factories import DeadLetterFactory

pytestmark = pytest.mark.django_db

DEAD_LETTERS = "/api/v1/admin/dead-letters/"


def _headers(**overrides) -> dict:
    headers = {
        "x-request-id": "trace-7",
        "x-failure-reason": "smtp 550: no such mailbox",
        "x-failure-kind": "permanent",
        "x-attempt": 2,
        "x-original-queue": EMAIL_QUEUE,
        "x-failed-at": "2026-11-24T01:00:05.000+00:00",
    }
    headers.update(overrides)
    return headers


def _body(notification_id: str, **extra) -> bytes:
    return json.dumps({"schema": 1, "notification_id": notification_id, "notification_type": "email", **extra}).encode()


def _publish(url, raw: bytes, *, message_id: str | None = None, headers: dict | None = None) -> None:
    with Publisher(url) as publisher:
        publisher.publish(FAILED_QUEUE, raw, headers=headers or _headers(), message_id=message_id)


def _consume(url, count: int, **attributes) -> DeadLetterConsumer:
    consumer = DeadLetterConsumer(url)
    for name, value in attributes.items():
        setattr(consumer, name, value)
    consumer.failure_pause_seconds = 0.01
    assert consumer.run(max_messages=count, idle_timeout=3) == count
    return consumer


def test_a_nul_byte_in_the_body_is_stored_as_base64_and_acked(rabbit_channel, rabbitmq_url):
    raw = b'{"schema": 1, "notification_id": "n-1", "note": "a\x00b"}'
    _publish(rabbitmq_url, raw, message_id="m-nul-body")

    _consume(rabbitmq_url, 1)

    dead_letter = DeadLetter.objects.get()
    assert dead_letter.stored_reduced is True
    assert dead_letter.body_encoding == BodyEncoding.BASE64
    assert dead_letter.body_bytes() == raw
    assert "NUL" in dead_letter.store_error
    assert dead_letter.message_id == "m-nul-body"
    assert dead_letter.reason == "smtp 550: no such mailbox"
    assert dead_letter.headers["x-request-id"] == "trace-7"
    assert drain(rabbit_channel, FAILED_QUEUE) == []


@pytest.mark.parametrize(
    "bad_header",
    [
        {"x-failure-reason": "smtp 550\x00 no such mailbox"},  # NUL in a header
        {"x-attempt": 2**40},  # out of range for the attempts column
        {"x-failed-at": "2026-13-45T00:00:00"},  # a date that does not exist
        {"x-history": json.dumps([{"attempt": 1, "error": "a\x00b"}])},  # NUL deep in the history
    ],
    ids=["nul", "huge-int", "bad-date", "nul-in-history"],
)
def test_headers_the_database_refuses_are_stored_as_text_and_acked(rabbit_channel, rabbitmq_url, bad_header):
    notification_id = str(uuid.uuid4())
    _publish(rabbitmq_url, _body(notification_id), message_id=notification_id, headers=_headers(**bad_header))

    _consume(rabbitmq_url, 1)

    dead_letter = DeadLetter.objects.get()
    assert dead_letter.stored_reduced is True
    assert dead_letter.store_error
    assert dead_letter.body_encoding == BodyEncoding.TEXT
    assert json.loads(dead_letter.body)["notification_id"] == notification_id
    assert dead_letter.notification_id == notification_id
    assert dead_letter.channel == "email"
    assert all(isinstance(value, str) for value in dead_letter.headers.values())
    assert drain(rabbit_channel, FAILED_QUEUE) == []


def test_the_consumer_goes_on_with_the_messages_behind_unstorable_ones(rabbit_channel, rabbitmq_url):
    good_id = str(uuid.uuid4())
    _publish(rabbitmq_url, b'{"note": "\x00"}', message_id="m-1")
    _publish(rabbitmq_url, _body("n-2"), message_id="m-2", headers=_headers(**{"x-failure-reason": "bad\x00"}))
    _publish(rabbitmq_url, _body(good_id), message_id=good_id)

    _consume(rabbitmq_url, 3)

    rows = {row.message_id: row for row in DeadLetter.objects.all()}
    assert set(rows) == {"m-1", "m-2", good_id}
    assert rows["m-1"].stored_reduced and rows["m-2"].stored_reduced
    assert rows[good_id].stored_reduced is False
    assert rows[good_id].store_error == ""
    assert drain(rabbit_channel, FAILED_QUEUE) == []


def test_a_redelivered_unstorable_message_is_stored_once(rabbit_channel, rabbitmq_url):
    for _ in range(2):
        _publish(rabbitmq_url, b'{"note": "\x00"}', message_id="m-twice")

    _consume(rabbitmq_url, 2)

    assert DeadLetter.objects.count() == 1


def test_with_the_database_down_the_message_is_requeued_not_reduced(rabbit_channel, rabbitmq_url, monkeypatch):
    notification_id = str(uuid.uuid4())
    _publish(rabbitmq_url, _body(notification_id), message_id=notification_id)
    real_record = dead_letter_consumer.dead_letter_record
    outage = {"calls": 0}

    def store(**fields):
        # The database refuses connections for the first two deliveries (the failure is
        # injected at the boundary: the driver's OperationalError and an unanswered probe).
        outage["calls"] += 1
        if outage["calls"] <= 2:
            raise OperationalError("connection refused")
        return real_record(**fields)

    monkeypatch.setattr(dead_letter_consumer, "dead_letter_record", store)
    monkeypatch.setattr(dead_letter_consumer, "database_reachable", lambda: outage["calls"] >= 2)

    _consume(rabbitmq_url, 1)

    # Down (requeued); failing as the database comes back (tried again at once); stored.
    assert outage["calls"] == 3
    dead_letter = DeadLetter.objects.get()
    assert dead_letter.stored_reduced is False
    assert drain(rabbit_channel, FAILED_QUEUE) == []


def test_an_operational_error_while_the_database_answers_is_the_messages_fault(
    rabbit_channel, rabbitmq_url, monkeypatch
):
    notification_id = str(uuid.uuid4())
    _publish(rabbitmq_url, _body(notification_id), message_id=notification_id)

    def refuse(**fields):
        raise OperationalError("index row size exceeds maximum")  # answered by a live database

    monkeypatch.setattr(dead_letter_consumer, "dead_letter_record", refuse)
    monkeypatch.setattr("platform_admin.services.dead_letters.dead_letter_record", _real_record())

    _consume(rabbitmq_url, 1)

    dead_letter = DeadLetter.objects.get()
    assert dead_letter.stored_reduced is True
    assert "index row size" in dead_letter.store_error


def _real_record():
    from platform_admin.services import dead_letter_record

    return dead_letter_record


def test_what_cannot_be_stored_even_reduced_is_parked_on_its_own_queue(rabbit_channel, rabbitmq_url, monkeypatch):
    raw = b'{"note": "\x00"}'
    _publish(rabbitmq_url, raw, message_id="m-parked")
    _publish(rabbitmq_url, _body("n-after"), message_id="m-after")
    tries = []

    def refuse_reduced(**fields):
        tries.append(fields)
        raise DataError("value too long")  # the database refuses every reduced form too

    monkeypatch.setattr(dead_letter_consumer, "dead_letter_record_reduced", refuse_reduced)

    _consume(rabbitmq_url, 2)

    assert len(tries) == DeadLetterConsumer.reduced_store_attempts
    [(parked, properties)] = drain(rabbit_channel, FAILED_PARKED_QUEUE)
    assert parked == raw
    assert properties.message_id == "m-parked"
    assert "value too long" in properties.headers["x-store-error"]
    assert properties.headers["x-failure-reason"] == "smtp 550: no such mailbox"
    assert list(DeadLetter.objects.values_list("message_id", flat=True)) == ["m-after"]
    assert drain(rabbit_channel, FAILED_QUEUE) == []


def test_each_reduced_form_is_smaller_than_the_one_before():
    raw = _body("n-1")
    headers = _headers(**{"x-failure-reason": "bad\x00"})

    first, second, third = (
        reduced_dead_letter_fields(body=raw, headers=headers, message_id="m-1", priority=5, level=level)
        for level in (1, 2, 3)
    )

    assert first["headers"]["x-failure-reason"] == "bad\\x00"
    assert first["reason"] == "bad\\x00"
    assert second["headers"] == {} and second["history"] == []
    assert second["message_id"] == "m-1"
    assert third["body_encoding"] == BodyEncoding.BASE64
    assert base64.b64decode(third["body"]) == raw
    assert third["message_id"] is None


def test_a_dead_letter_kept_as_base64_is_replayed_with_its_original_bytes(admin_api, rabbit_channel):
    raw = b'{"schema": 1, "note": "\x00"}'
    dead_letter = DeadLetterFactory(
        body=base64.b64encode(raw).decode(), body_encoding=BodyEncoding.BASE64, stored_reduced=True
    )

    response = admin_api.post(f"{DEAD_LETTERS}{dead_letter.pk}/replay/")

    assert_envelope(response, status=200)
    [(body, _)] = drain(rabbit_channel, EMAIL_QUEUE)
    assert body == raw


def test_the_list_says_which_dead_letters_were_stored_reduced(admin_api):
    DeadLetterFactory()
    DeadLetterFactory(stored_reduced=True, store_error="DataError: NUL", body_encoding=BodyEncoding.BASE64, body="AA==")

    rows = assert_envelope(admin_api.get(DEAD_LETTERS), status=200)["data"]

    assert sorted((row["stored_reduced"], row["store_error"], row["body_encoding"]) for row in rows) == [
        (False, "", ""),
        (True, "DataError: NUL", "base64"),
    ]


def test_a_real_database_outage_requeues_without_reducing_and_stores_once_it_is_back(
    rabbit_channel,
    rabbitmq_url,
    database_proxy,  # noqa: F811 - the fixture imported above
):
    """PostgreSQL cut behind a loopback proxy (no mock): the message waits in failed.queue."""
    notification_id = str(uuid.uuid4())
    _publish(rabbitmq_url, _body(notification_id), message_id=notification_id)
    requeued = MESSAGES.labels(FAILED_QUEUE, "store_unavailable")
    before = requeued._value.get()
    database_proxy.cut()
    consumer = DeadLetterConsumer(rabbitmq_url)
    consumer.failure_pause_seconds = 0.05
    settled = []
    worker = threading.Thread(target=lambda: settled.append(consumer.run(max_messages=1, idle_timeout=10)))
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while requeued._value.get() < before + 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert requeued._value.get() >= before + 2  # tried and put back, more than once
    finally:
        database_proxy.restore()
        worker.join(15)

    assert settled == [1]
    dead_letter = DeadLetter.objects.get()
    assert dead_letter.message_id == notification_id
    assert dead_letter.stored_reduced is False
    assert drain(rabbit_channel, FAILED_QUEUE) == []
