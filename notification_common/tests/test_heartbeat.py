"""The one consumer heartbeat (notification_common.heartbeat), against the real Redis."""

import json
import threading

import pytest
from django.test import override_settings

from notification_common.heartbeat import Heartbeat, heartbeat_age_seconds, heartbeat_read, heartbeat_write
from notification_common.redis_client import get_redis
from notification_devtools.testing.waiting import wait_until
from tests.test_rabbitmq_consumer import RecordingConsumer

pytest_plugins = ["tests.rabbit_helpers"]

KEY = "tests:consumer:heartbeat"


def test_a_beat_is_read_back_with_its_state_and_age(redis_client):
    heartbeat_write(KEY, name="C:q", state={"paused": True, "dependency": "smtp"}, now=1_000.0)

    beat = heartbeat_read(KEY)

    assert beat["consumer"] == "C:q" and beat["paused"] is True and beat["dependency"] == "smtp"
    assert beat["at"] == 1_000.0 and beat["age_seconds"] > 0 and isinstance(beat["pid"], int)
    assert 0 < redis_client.ttl(KEY) <= 24 * 3600


def test_no_beat_and_an_unreadable_beat_read_as_none(redis_client):
    assert heartbeat_read(KEY) is None and heartbeat_age_seconds(KEY) is None
    redis_client.set(KEY, "not json")
    assert heartbeat_read(KEY) is None


def test_a_bare_number_from_an_earlier_version_still_reads(redis_client):
    redis_client.set(KEY, "1000.5")

    assert heartbeat_read(KEY)["at"] == 1000.5


def test_writing_never_raises_when_redis_is_down(redis_client, caplog):
    with override_settings(NOTIFICATION_COMMON={"REDIS_URL": "redis://127.0.0.1:1/0"}):
        heartbeat_write(KEY, name="C:q")  # logged, not raised: Redis is not on the delivery path
    assert "could not write the consumer heartbeat" in caplog.text


def test_beats_are_rate_limited_and_also_touch_the_file(redis_client, tmp_path):
    path = tmp_path / "alive"
    heartbeat = Heartbeat(KEY, file_path=str(path), every_seconds=3600)

    heartbeat.beat("C:q", {"n": 1})
    heartbeat.beat("C:q", {"n": 2})  # within every_seconds: skipped

    assert json.loads(get_redis().get(KEY))["n"] == 1 and path.exists()
    heartbeat.beat("C:q", {"n": 3}, force=True)
    assert json.loads(get_redis().get(KEY))["n"] == 3


def test_a_consumer_with_a_heartbeat_key_beats_its_state_while_idle(redis_client, rabbit_url, broker):

    class BeatingConsumer(RecordingConsumer):
        heartbeat_key = KEY

    consumer = BeatingConsumer(rabbit_url)
    thread = threading.Thread(target=consumer.run, kwargs={"idle_timeout": 10})
    thread.start()
    try:
        assert wait_until(lambda: heartbeat_read(KEY) is not None, timeout=5)
        beat = heartbeat_read(KEY)
        assert beat["consumer"] == consumer.name and beat["paused"] is False and beat["queue"] == consumer.queue
    finally:
        consumer.stop()
        thread.join(timeout=5)


@pytest.fixture
def redis_client(redis_client):
    redis_client.delete(KEY)
    return redis_client
