"""The template service's schema tells the truth (notification_devtools/testing/schema_contract.py)."""

import pytest

from message_templates.tests.factories import email_version, push_version
from notification_devtools.testing.schema_contract import *  # noqa: F403

TEMPLATES = "/api/v1/templates/"
VARIABLES = {"name": "Ada", "link": "https://example.com", "order_id": "42"}


# -- real answers with real data, strictly validated (SchemaValidator.assert_conforms) --
@pytest.mark.django_db
def test_every_template_operation_conforms(schema_validator, internal_client):
    conforms = schema_validator.assert_conforms
    email = {"code": "welcome", "channel": "email", "versions": [email_version("en"), email_version("pt")]}

    conforms(internal_client.post(TEMPLATES, email, format="json"))
    conforms(internal_client.post(TEMPLATES, email, format="json"))  # 409: exists
    shipped = {"code": "shipped", "channel": "push", "versions": [push_version()]}
    conforms(internal_client.post(TEMPLATES, shipped, format="json"))
    conforms(internal_client.post(TEMPLATES, {"code": "bad code!"}, format="json"))  # 400
    conforms(internal_client.get(TEMPLATES))
    conforms(internal_client.get(TEMPLATES, {"channel": "push", "language": "en", "search": "ship"}))
    for code in ("welcome", "shipped"):
        conforms(internal_client.get(f"{TEMPLATES}{code}/"))
        conforms(internal_client.get(f"{TEMPLATES}{code}/active/", {"language": "pt-BR"}))
        conforms(internal_client.get(f"{TEMPLATES}{code}/versions/"))
    conforms(internal_client.get(f"{TEMPLATES}welcome/", {"language": "en", "version": 1}))
    conforms(internal_client.get(f"{TEMPLATES}nope/"))  # 404
    conforms(
        internal_client.patch(f"{TEMPLATES}welcome/", {"description": "hello", "user_triggerable": True}, format="json")
    )
    version = email_version("en", subject="v2 {{ name }}")
    conforms(internal_client.post(f"{TEMPLATES}welcome/versions/", version, format="json"))
    conforms(internal_client.post(f"{TEMPLATES}welcome/versions/2/activate/?language=en"))
    conforms(internal_client.post(f"{TEMPLATES}welcome/versions/9/activate/?language=en"))  # 404
    for code in ("welcome", "shipped"):
        body = {"template_code": code, "language": "pt", "variables": VARIABLES}
        conforms(internal_client.post(f"{TEMPLATES}substitute/", body, format="json"))
    missing = {"template_code": "welcome", "variables": {}}
    conforms(internal_client.post(f"{TEMPLATES}substitute/", missing, format="json"))  # 422
    conforms(internal_client.get(f"{TEMPLATES}stats/"))
    conforms(internal_client.delete(f"{TEMPLATES}shipped/"))
    conforms(internal_client.delete(f"{TEMPLATES}shipped/"))  # 404: gone


@pytest.mark.django_db
def test_refusals_conform(schema_validator, api_client, sender_key, user_client):
    conforms = schema_validator.assert_conforms

    conforms(api_client.get(TEMPLATES, HTTP_X_API_KEY="not-a-key"))  # 401
    conforms(api_client.get(TEMPLATES, HTTP_X_API_KEY=sender_key))  # 403
    conforms(user_client.post(TEMPLATES, {"code": "x", "channel": "email"}, format="json"))  # 403
