"""Fixtures of the webhook tests: a loopback receiver and a helper to register endpoints."""

import pytest

from notification_devtools.testing.webhook_receiver import WebhookReceiver

WEBHOOKS_URL = "/api/v1/webhooks/"


@pytest.fixture
def receiver():
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def register(api_client, sender_key):
    """``register(url, events=[...])`` -> the create answer's data (secret included)."""

    def create(url, events=("delivered", "failed")):
        response = api_client.post(
            WEBHOOKS_URL, {"url": url, "events": list(events)}, format="json", HTTP_X_API_KEY=sender_key
        )
        assert response.status_code == 201, response.json()
        return response.json()["data"]

    return create
