"""GET /api/v1/templates/stats/ (internal): counts for the admin dashboard."""

import pytest

from message_templates import services
from message_templates.tests.factories import EmailTemplateFactory, PushTemplateFactory
from notification_devtools.testing import assert_envelope

pytestmark = pytest.mark.django_db

URL = "/api/v1/templates/stats/"


def test_stats_count_templates_by_channel_and_versions(internal_client):
    template = EmailTemplateFactory(code="welcome", languages=("en", "pt"))
    EmailTemplateFactory(code="reset")
    PushTemplateFactory(code="push")
    services.template_delete(template=EmailTemplateFactory(code="gone"))
    services.template_version_create(template=template, language="en", content={"subject": "s", "text_body": "t"})

    data = assert_envelope(internal_client.get(URL), status=200)["data"]

    assert data["templates"] == {"total": 3, "by_channel": {"email": 2, "push": 1}, "deleted": 1}
    assert data["versions"] == {"total": 5, "active": 4}
    assert data["active_versions_by_language"] == {"en": 3, "pt": 1}


def test_stats_of_an_empty_service_are_zero(internal_client):
    data = assert_envelope(internal_client.get(URL), status=200)["data"]

    assert data["templates"]["by_channel"] == {"email": 0, "push": 0}
    assert data["versions"] == {"total": 0, "active": 0}


def test_stats_with_a_user_token_are_403(user_client):
    assert_envelope(user_client.get(URL), status=403, error="permission_denied")


def test_stats_with_a_templates_write_key_are_403(api_client, writer_key):
    api_client.credentials(HTTP_X_API_KEY=writer_key)

    assert_envelope(api_client.get(URL), status=403, error="permission_denied")
