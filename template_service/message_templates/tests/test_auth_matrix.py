"""Who may call each template-service operation (notification_devtools/testing/auth_matrix.py)."""

import pytest

from message_templates.tests.factories import EmailTemplateFactory
from notification_devtools.testing.auth_matrix import *  # noqa: F403

# Reads and renders need templates:read (or write, or internal); changes need templates:write or
# internal; the active version (what consumers render) and stats are internal. No user token.
READERS = {"internal", "templates:read", "templates:write"}
WRITERS = {"internal", "templates:write"}
AUTH_MATRIX = {
    "GET /api/v1/categories/": READERS,
    "GET /api/v1/templates/": READERS,
    "GET /api/v1/templates/stats/": {"internal"},
    "GET /api/v1/templates/{code}/": READERS,
    "GET /api/v1/templates/{code}/active/": {"internal"},
    "GET /api/v1/templates/{code}/versions/": READERS,
    "POST /api/v1/templates/substitute/": READERS,
    "POST /api/v1/templates/": WRITERS,
    "PATCH /api/v1/templates/{code}/": WRITERS,
    "POST /api/v1/templates/{code}/versions/": WRITERS,
    "POST /api/v1/templates/{code}/versions/{version}/activate/": WRITERS,
    "DELETE /api/v1/templates/{code}/": WRITERS,
}


@pytest.fixture
def matrix_resources(db) -> dict:
    EmailTemplateFactory(code="welcome")
    return {"code": "welcome", "version": 1}
