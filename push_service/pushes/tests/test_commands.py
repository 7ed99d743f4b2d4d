"""``manage.py consume_push``: options, start-up (token, heartbeat, follow-ups), clean stop."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from notification_common.heartbeat import heartbeat_age_seconds
from notification_common.rabbitmq import PUSH_QUEUE, Publisher
from pushes.constants import HEARTBEAT_KEY
from pushes.consumer import build_push_consumer, start_push_consumer
from pushes.tests.conftest import push_message
from pushes.tests.factories import PushDeviceResultFactory, PushNotificationFactory


@pytest.fixture
def push_settings(settings, fcm, service_account, push_rabbitmq_url, stubs):
    settings.PUSH_SERVICE = settings.PUSH_SERVICE | {
        "FIREBASE_SERVICE_ACCOUNT_PATH": service_account,
        "FCM_ENDPOINT": fcm.url,
        "RETRY_BASE_SECONDS": 0.05,
    }
    common = dict(settings.NOTIFICATION_COMMON, RABBITMQ_URL=push_rabbitmq_url)
    settings.NOTIFICATION_COMMON = common
    from notification_common.conf import common_settings

    common_settings.reload()
    yield settings
    common_settings.reload()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--max-messages", "-1"], "--max-messages must be at least 1"),
        (["--idle-timeout", "0"], "--idle-timeout must be positive"),
    ],
)
def test_bad_options_are_refused(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("consume_push", *args, stdout=StringIO())


def test_missing_service_account_is_a_clear_error(settings, tmp_path):
    settings.PUSH_SERVICE = settings.PUSH_SERVICE | {"FIREBASE_SERVICE_ACCOUNT_PATH": str(tmp_path / "none.json")}

    with pytest.raises(CommandError, match="cannot set up FCM"):
        call_command("consume_push", "--idle-timeout", "0.1", stdout=StringIO())


@pytest.mark.django_db(transaction=True)
def test_command_delivers_then_stops_and_leaves_a_heartbeat(push_settings, broker, fcm, redis_client, user_service):
    message = push_message(tokens=["tok-a"])
    with Publisher(push_settings.NOTIFICATION_COMMON["RABBITMQ_URL"]) as publisher:
        publisher.publish(PUSH_QUEUE, message, message_id=message["notification_id"])
    out = StringIO()

    call_command("consume_push", "--max-messages", "1", "--idle-timeout", "10", stdout=out)

    assert "stopped after 1 message(s)" in out.getvalue()
    assert len(fcm.messages_for("tok-a")) == 1
    assert heartbeat_age_seconds(HEARTBEAT_KEY) < 5
    assert user_service.statuses(message["notification_id"]) == ["delivered"]  # flushed on stop


@pytest.mark.django_db(transaction=True)
def test_start_resends_reports_and_deactivations_a_previous_run_left(push_settings, redis_client, user_service):
    unreported = PushNotificationFactory(status="delivered", reported_status="")
    PushNotificationFactory(status="delivered", reported_status="delivered")
    dead = PushDeviceResultFactory(
        status="failed", error_code="UNREGISTERED", deactivation_requested=True, notification=unreported
    )
    consumer = build_push_consumer()
    try:
        assert start_push_consumer(consumer) == (1, 1)
    finally:
        consumer.close()

    assert user_service.statuses(unreported.notification_id) == ["delivered"]
    assert [c["json"] for c in user_service.deactivations] == [{"token": dead.token, "reason": "fcm:UNREGISTERED"}]
    unreported.refresh_from_db()
    dead.refresh_from_db()
    assert unreported.reported_status == "delivered" and dead.deactivated_at is not None
