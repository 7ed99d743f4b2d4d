"""The template list while PostgreSQL or Redis is cut: 503 with Retry-After, never 500, and
200 again once it is back (docs/operations.md, "Outages").

Real servers behind the loopback proxy of notification_devtools/testing/tcp_proxy.py; requests
go over HTTP to the live server (Django's real WSGI handler).
"""

import time

import pytest
import requests

from message_templates.tests.factories import EmailTemplateFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def list_templates(live_server, internal_key):
    def get():
        return requests.get(f"{live_server.url}/api/v1/templates/", headers={"X-API-Key": internal_key}, timeout=15)

    return get


def until_ok(get, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        response = get()
        assert response.status_code in (200, 503), response.text  # never a 500 on the way back
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


def test_template_list_answers_503_while_the_database_is_cut_and_200_after(list_templates, database_proxy):
    EmailTemplateFactory(code="outage-welcome")
    assert list_templates().status_code == 200

    database_proxy.cut()
    response = list_templates()

    assert response.status_code == 503, response.text
    assert response.json()["error"] == "dependency_unavailable"
    assert response.json()["data"] == {"dependency": "database"}
    assert int(response.headers["Retry-After"]) >= 1
    database_proxy.restore()
    after = until_ok(list_templates)
    assert after.status_code == 200
    assert [t["code"] for t in after.json()["data"]] == ["outage-welcome"]


def test_template_list_never_answers_500_while_redis_is_cut(list_templates, redis_proxy):
    EmailTemplateFactory(code="outage-redis")

    redis_proxy.cut()
    during = list_templates()

    # Reads that can do without the cache answer; anything that cannot answers 503.
    assert during.status_code in (200, 503), during.text
    if during.status_code == 503:
        assert during.json()["data"] == {"dependency": "redis"}
        assert int(during.headers["Retry-After"]) >= 1
    redis_proxy.restore()
    assert until_ok(list_templates).status_code == 200
