"""Fixtures of the push service's tests.

Real parts: the unmodified firebase-admin SDK sending over HTTP to the loopback FCM server
(OAuth token endpoint included), PostgreSQL, Redis and RabbitMQ. The template and user
services are stood in by loopback HTTP stubs speaking their contracts (docs/architecture.md);
the e2e suite runs the real ones.
"""

from __future__ import annotations

import itertools
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from notification_common.rabbitmq import FAILED_QUEUE, PUSH_QUEUE, Publisher
from notification_common.service_clients import reset_clients
from notification_common.status_reports import StatusReporter
from notification_devtools.loopback.fcm import LoopbackFCMServer
from notification_devtools.testing.http import StubHTTPServer
from notification_devtools.testing.rabbit import drain
from notification_devtools.testing.templates import TemplateServiceStub
from pushes.clients import DeviceDeactivator, TemplateRenderer
from pushes.consumer import PushConsumer
from pushes.models import PushDeviceResult, PushNotification
from pushes.services import DeliveryDependencies, push_deactivations_mark_done, push_reports_mark_sent
from pushes.transport import PushService

STATUS_PATH = "/api/v1/push/status/"
DEACTIVATE_PATH = "/api/v1/devices/deactivate/"
# The push suite's own vhost: other services' suites purge the shared test vhost's queues,
# which must not happen under a push test that is waiting for its retry.
SERVICE_DIR = Path(__file__).resolve().parents[2]
_app_names = itertools.count()

WELCOME = {"title": "Hi {{ name }}", "body": "Welcome aboard, {{ name }}!", "data": {"screen": "home"}}


def _envelope(data=None, *, error=None, message="") -> dict:
    return {"success": error is None, "data": data, "error": error, "message": message, "meta": None}


def push_template_service(server: StubHTTPServer) -> TemplateServiceStub:
    """The template service's active-version endpoint with ``welcome`` (push, en, version 3)."""
    stub = TemplateServiceStub(server, channel="push")
    stub.add("welcome", "en", version=3, **WELCOME)
    return stub


class UserServiceStub:
    """The user service's status and device-deactivation endpoints, recording what they get."""

    def __init__(self, server: StubHTTPServer):
        self.server = server
        server.reply("POST", STATUS_PATH, 200, None)
        server.reply("POST", DEACTIVATE_PATH, 200, {"deactivated": 1})

    def reports(self, notification_id=None) -> list[dict]:
        found = []
        for request in self.server.requests_to("POST", STATUS_PATH):
            body = request["json"]
            found.extend(body if isinstance(body, list) else [body])
        if notification_id is not None:
            found = [r for r in found if r["notification_id"] == str(notification_id)]
        return found

    def statuses(self, notification_id) -> list[str]:
        return [report["status"] for report in self.reports(notification_id)]

    @property
    def deactivations(self) -> list[dict]:
        return self.server.requests_to("POST", DEACTIVATE_PATH)


@pytest.fixture(scope="session")
def push_rabbitmq_url(rabbitmq_url) -> str:
    """The push suite's own test vhost (see notification_devtools.testing.pytest_plugin)."""
    return rabbitmq_url


@pytest.fixture
def broker(rabbit_channel):
    """A channel on the test vhost, topology declared and purged before and after."""
    return rabbit_channel


@pytest.fixture
def fcm():
    with LoopbackFCMServer(require_known_keys=True) as server:
        yield server


@pytest.fixture
def service_account(fcm, tmp_path) -> str:
    path = tmp_path / "service-account.json"
    fcm.write_service_account(str(path), project_id="loopback-project")
    return str(path)


@pytest.fixture
def push_service(fcm, service_account):
    service = PushService(
        service_account_path=service_account,
        endpoint=fcm.url,
        http_timeout=10,
        app_name=f"push-test-{next(_app_names)}",
    )
    yield service
    service.close()


@pytest.fixture
def push_process_env(push_rabbitmq_url, fcm, service_account, stubs):
    """The environment of a ``manage.py consume_push`` process on the test database, vhost,
    Redis and loopback servers (tests that kill a real consumer process)."""
    from urllib.parse import quote

    from django.db import connection

    from notification_common.conf import common_settings

    db = connection.settings_dict
    credentials = f"{quote(db['USER'])}:{quote(db['PASSWORD'])}@" if db["USER"] else ""
    templates, users = stubs
    return {
        **os.environ,
        "PUSH_DATABASE_URL": f"postgres://{credentials}{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "RABBITMQ_URL": push_rabbitmq_url,
        "REDIS_URL": common_settings.REDIS_URL,
        "FCM_ENDPOINT": fcm.url,
        "FIREBASE_SERVICE_ACCOUNT_PATH": service_account,
        "TEMPLATE_SERVICE_URL": templates.server.url,
        "USER_SERVICE_URL": users.server.url,
        "ADMIN_SERVICE_URL": "",
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def stubs(settings):
    """The template and user service stand-ins, each on its own loopback port."""
    templates, users = StubHTTPServer(), StubHTTPServer()
    settings.TEMPLATE_SERVICE_URL = templates.url
    settings.USER_SERVICE_URL = users.url
    reset_clients()
    yield push_template_service(templates), UserServiceStub(users)
    reset_clients()
    for server in (templates, users):
        server.close()


@pytest.fixture
def template_service(stubs) -> TemplateServiceStub:
    return stubs[0]


@pytest.fixture
def user_service(stubs) -> UserServiceStub:
    return stubs[1]


@pytest.fixture
def deps(transactional_db, push_service, stubs):
    """Delivery dependencies as consume_push builds them (requests transactional_db so the
    background threads are stopped before the tables are flushed)."""
    render_pool = ThreadPoolExecutor(max_workers=4)
    dependencies = DeliveryDependencies(
        sender=push_service,
        renderer=TemplateRenderer(),
        reporter=StatusReporter("push", on_sent=push_reports_mark_sent, flush_interval=0.05),
        deactivator=DeviceDeactivator(on_done=push_deactivations_mark_done),
        render_pool=render_pool,
    )
    yield dependencies
    dependencies.reporter.stop(timeout=5)
    dependencies.deactivator.stop(timeout=5)
    render_pool.shutdown()


@pytest.fixture
def make_consumer(deps, push_rabbitmq_url, broker):
    def make(**kwargs) -> PushConsumer:
        options = {"retry_base_seconds": 0.05, "max_attempts": 3, "batch_size": 20} | kwargs
        return PushConsumer(push_rabbitmq_url, deps=deps, **options)

    return make


@pytest.fixture
def consumer(make_consumer) -> PushConsumer:
    return make_consumer()


@pytest.fixture
def publish(push_rabbitmq_url, broker):
    publisher = Publisher(push_rabbitmq_url)

    def send(body, *, message_id: str | None = None, headers: dict | None = None) -> None:
        if isinstance(body, dict):
            message_id = message_id or body.get("notification_id")
        publisher.publish(PUSH_QUEUE, body, message_id=message_id, headers=headers)

    yield send
    publisher.close()


@pytest.fixture
def failed_messages(broker):
    """Take what is in failed.queue: [(body, headers)]."""

    def take() -> list[tuple[object, dict]]:
        return [(body, dict(props.headers or {})) for body, props in drain(broker, FAILED_QUEUE)]

    return take


def push_message(tokens=("tok-a", "tok-b", "tok-c"), **overrides) -> dict:
    """A push queue message as the gateway publishes it (schema 1)."""
    notification_id = str(uuid.uuid4())
    return {
        "schema": 1,
        "notification_id": notification_id,
        "notification_type": "push",
        "user_id": str(uuid.uuid4()),
        "template_code": "welcome",
        "language": "en",
        "variables": {"name": "Ada"},
        "priority": 5,
        "metadata": {},
        "request_id": f"client-{notification_id[:8]}",
        "trace_id": f"trace-{notification_id[:8]}",
        "recipient": {"push_tokens": list(tokens), "name": "Ada"},
        "created_at": "2026-11-24T01:00:00+00:00",
    } | overrides


def devices_of(notification_id) -> dict[str, PushDeviceResult]:
    return {d.token: d for d in PushDeviceResult.objects.filter(notification__notification_id=notification_id)}


def delivery(notification_id) -> PushNotification:
    return PushNotification.objects.get(notification_id=notification_id)


def settle_followups(deps) -> None:
    assert deps.reporter.flush(timeout=5)
    assert deps.deactivator.flush(timeout=5)
