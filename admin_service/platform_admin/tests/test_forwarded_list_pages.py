"""Regression (fuzzing, issue 14): a huge ?page= on the admin's users and templates lists was
forwarded upstream, answered 500 there, and five of them opened the circuit to the user
service. Now the admin service refuses it itself: 400 naming page, no upstream call."""

import pytest

from notification_common.pagination import max_page
from notification_devtools.testing import assert_envelope

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("path", "upstream"),
    [
        ("/api/v1/admin/users/", "/api/v1/users/"),
        ("/api/v1/admin/templates/", "/api/v1/templates/"),
        ("/api/v1/admin/outbox/parked/", "/api/v1/outbox/parked/"),
    ],
)
@pytest.mark.parametrize("page", ["922337203685477580", str(max_page() + 1)])
def test_a_page_beyond_the_cap_is_refused_without_calling_upstream(admin_api, platform, path, upstream, page):
    response = admin_api.get(path, {"page": page})

    assert list(assert_envelope(response, status=400, error="validation_error")["data"]) == ["page"]
    assert platform.requests_to("GET", upstream) == []
