"""Fixtures of the email service's tests: loopback SMTP, stand-ins for the template and user
services (the e2e suite runs the real ones), a consumer on the test vhost, a publisher."""

from __future__ import annotations

import threading
import uuid

import pytest

from notification_common.rabbitmq import EMAIL_QUEUE, Publisher
from notification_common.service_clients import reset_clients
from notification_devtools.loopback.smtp import LoopbackSMTPServer
from notification_devtools.testing.http import StubHTTPServer
from notification_devtools.testing.templates import TemplateServiceStub

STATUS_PATH = "/api/v1/email/status/"

WELCOME = {
    "subject": "Welcome, {{ name }}",
    "text_body": "Hi {{ name }}, open {{ link }}",
    "html_body": "<p>Hi <b>{{ name }}</b>, open <a href='{{ link }}'>{{ link }}</a></p>",
}


def email_template_service(server: StubHTTPServer) -> TemplateServiceStub:
    """The template service's active-version endpoint with ``welcome`` (en, version 3)."""
    stub = TemplateServiceStub(server)
    stub.add("welcome", "en", version=3, **WELCOME)
    return stub


class UserServiceStub:
    """The user service's status endpoint: records the reports it receives."""

    def __init__(self, server: StubHTTPServer):
        self.server = server
        server.route("POST", STATUS_PATH, lambda request: (200, {"success": True, "data": None, "error": None}))

    def reports(self, notification_id: str | None = None) -> list[dict]:
        reports = []
        for request in self.server.requests_to("POST", STATUS_PATH):
            body = request["json"]
            reports.extend(body if isinstance(body, list) else [body])
        if notification_id is not None:
            reports = [r for r in reports if r["notification_id"] == notification_id]
        return reports

    def statuses(self, notification_id: str) -> list[str]:
        return [report["status"] for report in self.reports(notification_id)]


@pytest.fixture
def smtp_server(settings):
    with LoopbackSMTPServer() as server:
        settings.SMTP_HOST, settings.SMTP_PORT = server.host, server.port
        yield server


@pytest.fixture
def template_service(stub_server, settings):
    settings.TEMPLATE_SERVICE_URL = stub_server.url
    reset_clients()
    yield email_template_service(stub_server)
    reset_clients()


@pytest.fixture
def user_service(stub_server, settings):
    # The same loopback server as the template service (other paths): each stub server
    # takes half a second to shut down.
    settings.USER_SERVICE_URL = stub_server.url
    reset_clients()
    yield UserServiceStub(stub_server)
    reset_clients()


@pytest.fixture
def publisher(rabbitmq_url, rabbit_channel):
    publisher = Publisher(rabbitmq_url)
    yield publisher
    publisher.close()


def email_message(**overrides) -> dict:
    body = {
        "schema": 1,
        "notification_id": str(uuid.uuid4()),
        "notification_type": "email",
        "user_id": str(uuid.uuid4()),
        "template_code": "welcome",
        "language": "en",
        "variables": {"name": "Ada", "link": "https://example.com/start"},
        "priority": 5,
        "metadata": {},
        "request_id": "client-key-1",
        "trace_id": "trace-abc",
        "recipient": {"email": "ada@example.com", "name": "Ada Lovelace"},
        "created_at": "2026-11-24T01:00:00+00:00",
    }
    body.update(overrides)
    return body


@pytest.fixture
def publish_email(publisher):
    """``publish_email(**body_overrides)`` -> the published body (AMQP message_id = notification_id)."""

    def publish(body: dict | None = None, *, raw: bytes | None = None, headers: dict | None = None, **overrides):
        body = body or email_message(**overrides)
        message_id = body.get("notification_id") if isinstance(body, dict) else None
        publisher.publish(
            EMAIL_QUEUE,
            raw if raw is not None else body,
            message_id=message_id if isinstance(message_id, str) else None,
            headers={"x-request-id": "trace-abc", **(headers or {})},
        )
        return body

    return publish


@pytest.fixture
def make_consumer(rabbitmq_url, smtp_server, template_service, user_service):
    """``make_consumer(**kwargs)`` -> an EmailConsumer on the test vhost with quick retries."""
    from emails.consumer import EmailConsumer

    consumers = []

    def make(**kwargs):
        kwargs.setdefault("retry_base_seconds", 0.2)
        kwargs.setdefault("batch_size", 10)
        kwargs.setdefault("report_flush_seconds", 3.0)
        consumer = EmailConsumer(rabbitmq_url, **kwargs)
        consumers.append(consumer)
        return consumer

    yield make
    for consumer in consumers:
        consumer.reporter.stop(timeout=1.0)


def run_in_thread(consumer, **run_kwargs) -> threading.Thread:
    """Run a consumer in a thread (stop it with consumer.stop(); join the thread)."""
    from django.db import connection

    def target():
        try:
            consumer.run(**run_kwargs)
        finally:
            connection.close()  # this thread's own database connection

    thread = threading.Thread(target=target, name="email-consumer", daemon=True)
    thread.start()
    return thread


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def header(properties, name: str):
    value = (properties.headers or {}).get(name)
    return value.decode() if isinstance(value, bytes) else value


def delay_queue_depth(channel) -> int:
    from notification_common.rabbitmq.topology import delay_queues

    return sum(
        channel.queue_declare(queue=name, passive=True).method.message_count for name in delay_queues(EMAIL_QUEUE)
    )


@pytest.fixture
def consumer_process_env(rabbitmq_url, smtp_server, template_service, user_service):
    """The environment of a ``manage.py consume_emails`` process on the test database, vhost,
    Redis and loopback servers (tests that stop or kill a real consumer process)."""
    import os
    from urllib.parse import quote

    from django.db import connection

    from notification_common.conf import common_settings

    db = connection.settings_dict
    credentials = f"{quote(db['USER'])}:{quote(db['PASSWORD'])}@" if db["USER"] else ""
    return {
        **os.environ,
        "EMAIL_DATABASE_URL": f"postgres://{credentials}{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "RABBITMQ_URL": rabbitmq_url,
        "REDIS_URL": common_settings.REDIS_URL,
        "SMTP_HOST": smtp_server.host,
        "SMTP_PORT": str(smtp_server.port),
        "TEMPLATE_SERVICE_URL": template_service.server.url,
        "USER_SERVICE_URL": user_service.server.url,
        "ADMIN_SERVICE_URL": "",
        "LOG_LEVEL": "WARNING",
    }
