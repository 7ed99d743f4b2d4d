"""The webhook routes: create (secret once), list, delete, delivery log, test event; bad input."""

import uuid

import pytest

from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.tests.conftest import WEBHOOKS_URL

pytestmark = pytest.mark.django_db

PUBLIC_URL = "https://93.184.216.34/hooks"  # an IP literal: a public address with no DNS lookup


@pytest.fixture
def as_sender(api_client, sender_key):
    def call(method, path, body=None):
        return getattr(api_client, method)(path, body, format="json", HTTP_X_API_KEY=sender_key)

    return call


def test_create_answers_201_with_a_secret_that_is_never_shown_again(as_sender):
    created = as_sender("post", WEBHOOKS_URL, {"url": "http://127.0.0.1:9/hooks", "events": ["failed", "delivered"]})

    assert created.status_code == 201
    data = created.json()["data"]
    assert data["secret"].startswith("whsec_") and len(data["secret"]) > 40
    assert data["events"] == ["delivered", "failed"]
    listed = as_sender("get", WEBHOOKS_URL).json()
    assert [item["id"] for item in listed["data"]] == [data["id"]]
    assert "secret" not in listed["data"][0]
    assert "secret" not in as_sender("get", f"{WEBHOOKS_URL}{data['id']}/").json()["data"]
    assert listed["meta"]["total"] == 1


def test_each_endpoint_gets_its_own_secret(register):
    assert register("http://127.0.0.1:9/a")["secret"] != register("http://127.0.0.1:9/b")["secret"]


def test_delete_removes_the_endpoint_and_its_log(as_sender, register):
    webhook = register("http://127.0.0.1:9/hooks")
    as_sender("post", f"{WEBHOOKS_URL}{webhook['id']}/test/")

    deleted = as_sender("delete", f"{WEBHOOKS_URL}{webhook['id']}/")

    assert deleted.status_code == 200
    assert not WebhookEndpoint.objects.exists() and not WebhookDelivery.objects.exists()
    assert as_sender("delete", f"{WEBHOOKS_URL}{webhook['id']}/").status_code == 404


def test_another_senders_endpoint_is_not_found_on_every_route(as_sender):
    other = WebhookEndpoint.objects.create(sender="key:someone-else", url=PUBLIC_URL, events=["delivered"], secret="s")

    for method, suffix in [("get", ""), ("delete", ""), ("get", "deliveries/"), ("post", "test/")]:
        response = as_sender(method, f"{WEBHOOKS_URL}{other.id}/{suffix}")
        assert response.status_code == 404, (method, suffix)
        assert response.json()["error"] == "not_found"
    assert as_sender("get", WEBHOOKS_URL).json()["data"] == []
    assert WebhookEndpoint.objects.filter(id=other.id).exists()


@pytest.mark.parametrize("suffix", ["", "deliveries/", "test/"])
def test_an_unknown_or_malformed_id_is_404_in_the_envelope(as_sender, suffix):
    for webhook_id in (uuid.uuid4(), "not-a-uuid"):
        response = as_sender("post" if suffix == "test/" else "get", f"{WEBHOOKS_URL}{webhook_id}/{suffix}")
        assert response.status_code == 404
        assert response.json()["success"] is False


def test_the_test_route_queues_a_test_event_shown_in_the_delivery_log(as_sender, register):
    webhook = register("http://127.0.0.1:9/hooks")

    queued = as_sender("post", f"{WEBHOOKS_URL}{webhook['id']}/test/")

    assert queued.status_code == 202
    assert queued.json()["data"]["event"] == "test"
    log = as_sender("get", f"{WEBHOOKS_URL}{webhook['id']}/deliveries/").json()
    assert [(d["event"], d["state"], d["attempts"]) for d in log["data"]] == [("test", "pending", 0)]
    assert log["data"][0]["next_attempt_at"] is not None


def test_the_delivery_log_refuses_a_bad_page(as_sender, register):
    webhook = register("http://127.0.0.1:9/hooks")

    response = as_sender("get", f"{WEBHOOKS_URL}{webhook['id']}/deliveries/?limit=0")

    assert response.status_code == 400
    assert "limit" in response.json()["data"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": ["delivered"]}, "url"),
        ({"url": None, "events": ["delivered"]}, "url"),
        ({"url": 42, "events": ["delivered"]}, "url"),
        ({"url": "", "events": ["delivered"]}, "url"),
        ({"url": "https://example.com/" + "a" * 2100, "events": ["delivered"]}, "url"),
        ({"url": "ftp://example.com/hooks", "events": ["delivered"]}, "url"),
        ({"url": "not a url", "events": ["delivered"]}, "url"),
        ({"url": "https:///no-host", "events": ["delivered"]}, "url"),
        ({"url": "https://user:pw@example.com/hooks", "events": ["delivered"]}, "url"),
        ({"url": "https://example.com:99999/hooks", "events": ["delivered"]}, "url"),
        ({"url": PUBLIC_URL}, "events"),
        ({"url": PUBLIC_URL, "events": []}, "events"),
        ({"url": PUBLIC_URL, "events": "delivered"}, "events"),
        ({"url": PUBLIC_URL, "events": ["opened"]}, "events"),
        ({"url": PUBLIC_URL, "events": [None]}, "events"),
        ({"url": PUBLIC_URL, "events": ["delivered", "delivered"]}, "events"),
    ],
)
def test_bad_input_is_400_naming_the_field(as_sender, body, field):
    response = as_sender("post", WEBHOOKS_URL, body)

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert field in response.json()["data"]
    assert not WebhookEndpoint.objects.exists()


def test_a_body_that_is_not_an_object_is_400(api_client, sender_key):
    response = api_client.post(WEBHOOKS_URL, "[1]", content_type="application/json", HTTP_X_API_KEY=sender_key)

    assert response.status_code == 400
    assert response.json()["success"] is False


def test_plain_http_is_refused_outside_development_and_test(as_sender, settings):
    settings.ENVIRONMENT = "production"

    response = as_sender("post", WEBHOOKS_URL, {"url": "http://93.184.216.34/hooks", "events": ["delivered"]})

    assert response.status_code == 400
    assert response.json()["data"]["url"] == ["Must use https."]


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hooks",
        "https://localhost/hooks",
        "https://[::1]/hooks",
        "https://10.1.2.3/hooks",
        "https://172.16.0.1/hooks",
        "https://192.168.1.10/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[fe80::1]/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "https://0.0.0.0/hooks",
        "https://100.64.0.1/hooks",
        "https://no-such-host.invalid/hooks",
    ],
)
def test_production_refuses_loopback_private_link_local_and_unresolvable_hosts(as_sender, settings, url):
    settings.ENVIRONMENT = "production"

    response = as_sender("post", WEBHOOKS_URL, {"url": url, "events": ["delivered"]})

    assert response.status_code == 400
    assert "url" in response.json()["data"]
    assert not WebhookEndpoint.objects.exists()


def test_production_accepts_a_public_https_address(as_sender, settings):
    settings.ENVIRONMENT = "production"

    response = as_sender("post", WEBHOOKS_URL, {"url": PUBLIC_URL, "events": ["failed"]})

    assert response.status_code == 201


def test_a_host_is_refused_when_any_of_its_addresses_is_private(settings):
    from webhooks.url_rules import WebhookUrlRefused, webhook_url_check

    settings.ENVIRONMENT = "production"

    with pytest.raises(WebhookUrlRefused, match="10.0.0.5"):
        webhook_url_check("https://mixed.example/hooks", resolve=lambda host, port: ["93.184.216.34", "10.0.0.5"])


def test_only_sender_keys_manage_webhooks(api_client, internal_key, user_token):
    body = {"url": PUBLIC_URL, "events": ["delivered"]}

    assert api_client.post(WEBHOOKS_URL, body, format="json").status_code == 401
    assert api_client.post(WEBHOOKS_URL, body, format="json", HTTP_X_API_KEY=internal_key).status_code == 403
    token = user_token(str(uuid.uuid4()))
    assert api_client.get(WEBHOOKS_URL, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 403
    assert not WebhookEndpoint.objects.exists()


def test_internal_keys_find_a_notifications_deliveries_across_endpoints(api_client, internal_key, sender_key):
    from webhooks.services import webhook_test_send

    endpoint = WebhookEndpoint.objects.create(sender="key:a", url=PUBLIC_URL, events=["delivered"], secret="s")
    delivery = webhook_test_send(endpoint=endpoint)
    webhook_test_send(endpoint=endpoint)  # another notification's

    found = api_client.get(
        f"{WEBHOOKS_URL}deliveries/", {"notification_id": str(delivery.notification_id)}, HTTP_X_API_KEY=internal_key
    )

    assert found.status_code == 200
    [row] = found.json()["data"]
    assert (row["id"], row["webhook_id"], row["url"], row["sender"]) == (
        str(delivery.id),
        str(endpoint.id),
        PUBLIC_URL,
        "key:a",
    )
    bad = api_client.get(f"{WEBHOOKS_URL}deliveries/", {"notification_id": "x"}, HTTP_X_API_KEY=internal_key)
    assert bad.status_code == 400 and "notification_id" in bad.json()["data"]
    assert api_client.get(f"{WEBHOOKS_URL}deliveries/", HTTP_X_API_KEY=internal_key).status_code == 400
    assert api_client.get(f"{WEBHOOKS_URL}deliveries/", HTTP_X_API_KEY=sender_key).status_code == 403
