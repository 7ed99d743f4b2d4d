"""Every error a client can cause comes back in the envelope with a stable code."""

import pytest

from notification_devtools.testing import assert_envelope


def test_validation_error_names_each_field(api_client):
    response = api_client.post("/t/validate/", {"email": "nope", "count": 0}, format="json")

    body = assert_envelope(response, status=400, error="validation_error")
    assert set(body["data"]) == {"email", "count"}
    assert body["message"] == "Invalid input."


def test_malformed_json_is_a_parse_error(api_client):
    response = api_client.generic("POST", "/t/validate/", "{not json", content_type="application/json")

    assert_envelope(response, status=400, error="parse_error")


def test_raised_not_found_is_404_in_the_envelope(api_client):
    body = assert_envelope(api_client.get("/t/missing/"), status=404, error="not_found")

    assert body["message"] == "No such thing."


def test_unknown_route_is_404_in_the_envelope(api_client):
    response = api_client.get("/api/v1/health/nowhere/")

    assert_envelope(response, status=404, error="not_found")


def test_application_error_keeps_its_code_status_and_data(api_client):
    body = assert_envelope(api_client.get("/t/conflict/"), status=409, error="duplicate_request")

    assert body["data"] == {"id": "x"}


def test_wrong_method_is_405_in_the_envelope(api_client):
    assert_envelope(api_client.delete("/t/missing/"), status=405, error="method_not_allowed")


def test_missing_credentials_are_401_in_the_envelope(api_client):
    assert_envelope(api_client.get("/t/whoami/"), status=401, error="not_authenticated")


def test_a_real_bug_is_not_hidden_as_a_success(api_client):
    api_client.raise_request_exception = False

    response = api_client.get("/t/bug/")

    body = assert_envelope(response, status=500, error="internal_error")
    assert "a real bug" not in body["message"]


@pytest.mark.parametrize("limit", ["0", "-1", "abc"])
def test_pagination_rejects_bad_limits(limit):
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from notification_common.exceptions import ApplicationError
    from notification_common.pagination import PageLimitPagination

    request = Request(APIRequestFactory().get("/", {"limit": limit}))
    with pytest.raises(ApplicationError) as raised:
        PageLimitPagination().paginate_queryset(list(range(5)), request)
    assert raised.value.code == "validation_error"


def test_pagination_meta_on_the_last_page():
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from notification_common.pagination import PageLimitPagination

    paginator = PageLimitPagination()
    page = paginator.paginate_queryset(list(range(45)), Request(APIRequestFactory().get("/", {"page": 3, "limit": 20})))

    assert page == list(range(40, 45))
    assert paginator.meta() == {
        "total": 45,
        "limit": 20,
        "page": 3,
        "total_pages": 3,
        "has_next": False,
        "has_previous": True,
    }


def test_oversize_body_is_413_in_the_envelope(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100

    response = api_client.post("/t/validate/", {"email": "a@b.co", "count": 1, "pad": "x" * 500}, format="json")

    body = assert_envelope(response, status=413, error="payload_too_large")
    assert body["data"] == {"max_bytes": 100}


def test_absurdly_nested_json_is_a_parse_error(api_client):
    response = api_client.generic(
        "POST", "/t/validate/", "[" * 100_000 + "]" * 100_000, content_type="application/json"
    )

    assert_envelope(response, status=400, error="parse_error")
