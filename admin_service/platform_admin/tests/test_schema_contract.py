"""The admin service's schema tells the truth (notification_common/testing/schema_contract.py)."""

import pytest

from notification_common.pagination import page_meta
from notification_common.testing.schema_contract import *  # noqa: F403
from notification_common.testing.schema_contract import other_services_stubbed
from platform_admin.tokens import admin_tokens_issue

# The lists the admin API passes on: the other services answer an empty page.
UPSTREAM_LISTS = ("/api/v1/users/", "/api/v1/templates/", "/api/v1/outbox/parked/")


@pytest.fixture
def schema_fuzz_headers(admin_user) -> list[dict]:
    return [{"Authorization": f"Bearer {admin_tokens_issue(user=admin_user)['access']}"}]


@pytest.fixture
def other_services(stub_server):
    def empty_page(request):
        return 200, {
            "success": True,
            "data": [],
            "error": None,
            "message": "",
            "meta": page_meta(total=0, page=1, limit=20),
        }

    for path in UPSTREAM_LISTS:
        stub_server.route("GET", path, empty_page)
    with other_services_stubbed(stub_server) as stub:
        yield stub
