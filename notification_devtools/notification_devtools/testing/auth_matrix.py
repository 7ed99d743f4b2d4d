"""An authorization matrix generated from a service's OpenAPI schema.

Every operation the service serves is called with every kind of credential; the service's
table (``AUTH_MATRIX`` in its ``tests/test_auth_matrix.py``) says which credentials an operation
lets through. A cell the table does not allow must be refused: 401 for no, a garbage or a
revoked credential, 401/403 for the rest (or 404: a resource of user A's not shown to others). An
operation with no row fails the test, so a new endpoint cannot ship unprotected.

A service's test module defines ``AUTH_MATRIX`` (``{"METHOD /path/{param}/": {credential, ...}}``,
``ANYONE`` for public operations), the fixture ``matrix_resources`` (path parameter -> a value
naming user A's resource; created in the database when it must exist) and imports this module's
test and fixtures with ``from notification_devtools.testing.auth_matrix import *``.
"""

import pytest

from notification_common.api_keys import VERIFY_PATH, Scope, forget_api_key, hash_api_key
from notification_devtools.testing import issue_user_token
from notification_devtools.testing.openapi_validator import METHODS, served_schema

__all__ = [
    "ANYONE",
    "ANY_AUTHENTICATED",
    "CREDENTIALS",
    "UNAUTHENTICATED",
    "USER_A",
    "matrix_credentials",
    "matrix_extra_credentials",
    "test_every_operation_allows_only_its_credentials",
]

USER_A = "5b0c3a52-3c7e-4f7e-9a59-8c1f7d0e2a11"
USER_B = "0d6c1f4e-8a2b-4c3d-9e5f-6a7b8c9d0e1f"
KEY_PREFIX = "matrix-key-"
REVOKED_KEY = "matrix-revoked-internal-key"

# The kinds of caller; the admin service adds "admin" (an admin token) in its own fixture.
UNAUTHENTICATED = ("none", "garbage_key", "garbage_token", "revoked_key")
CREDENTIALS = (*UNAUTHENTICATED, "user_a", "user_b", *Scope.ALL)
ANYONE = frozenset(CREDENTIALS) | {"admin"}
ANY_AUTHENTICATED = frozenset(CREDENTIALS) - set(UNAUTHENTICATED)


@pytest.fixture
def matrix_extra_credentials() -> dict[str, dict]:
    """Kinds of caller only one service knows (the admin service: ``admin``, an admin token)."""
    return {}


@pytest.fixture
def matrix_credentials(settings, stub_server, matrix_extra_credentials) -> dict[str, dict]:
    """Request headers of each kind of caller. Keys are checked by a stub admin service that
    knows one key of each scope, the bootstrap keys, and no other (404: 401, not 503)."""
    from notification_common.service_clients import reset_clients

    common = dict(settings.NOTIFICATION_COMMON)
    keys = {scope: f"{KEY_PREFIX}{scope.replace(':', '-')}" for scope in Scope.ALL}
    known = {**common["BOOTSTRAP_API_KEYS"], **{key: [scope] for scope, key in keys.items()}}

    def verify(request):
        raw = (request["json"] or {}).get("key", "") if isinstance(request["json"], dict) else ""
        if raw not in known:
            return 404, {"success": False, "data": {"reason": "unknown"}, "error": "invalid_api_key", "meta": None}
        data = {"id": hash_api_key(raw)[:12], "name": "matrix", "scopes": list(known[raw]), "expires_at": None}
        return 200, {"success": True, "data": data, "error": None, "message": "", "meta": None}

    stub_server.route("POST", VERIFY_PATH, verify)
    common["ADMIN_SERVICE_URL"] = stub_server.url
    common["API_KEY_FAILED_LOOKUPS_PER_MINUTE"] = 100_000  # the matrix sends many garbage keys
    settings.NOTIFICATION_COMMON = common
    reset_clients()
    forget_api_key(hash_api_key(REVOKED_KEY), revoked=True)
    headers = {
        "none": {},
        "garbage_key": {"HTTP_X_API_KEY": "not-a-key"},
        "garbage_token": {"HTTP_AUTHORIZATION": "Bearer not.a.token"},
        "revoked_key": {"HTTP_X_API_KEY": REVOKED_KEY},
        "user_a": {"HTTP_AUTHORIZATION": f"Bearer {issue_user_token(USER_A)}"},
        "user_b": {"HTTP_AUTHORIZATION": f"Bearer {issue_user_token(USER_B)}"},
        **{scope: {"HTTP_X_API_KEY": key} for scope, key in keys.items()},
        **matrix_extra_credentials,
    }
    yield headers
    reset_clients()


class _Resources(dict):
    """A path parameter the service's fixture does not name gets an unknown id (a new endpoint
    still reaches the check that it has a row)."""

    def __missing__(self, name):
        return "00000000-0000-4000-8000-000000000000"


def _operations(schema: dict) -> list[tuple[str, str]]:
    operations = [
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in METHODS and "/health/" not in path
    ]
    return sorted(operations, key=lambda op: op[0] == "DELETE")  # deletes last: the resources stay


def _refusals(credential: str, path: str) -> set[int]:
    if credential in UNAUTHENTICATED:
        return {401}
    if "{" in path:  # someone else's resource: forbidden, or not shown at all
        return {401, 403, 404}
    return {401, 403}


@pytest.mark.django_db
def test_every_operation_allows_only_its_credentials(api_client, matrix_credentials, matrix_resources, request):
    table = request.module.AUTH_MATRIX
    operations = _operations(served_schema())
    observed, wrong = {}, []
    for method, path in operations:
        url = path.format_map(_Resources(matrix_resources))
        allowed = table.get(f"{method} {path}")
        for credential, headers in matrix_credentials.items():
            api_client.credentials(**headers)
            response = api_client.generic(method, url, data="{}", content_type="application/json")
            status = response.status_code
            observed.setdefault(f"{method} {path}", set())
            if status not in (401, 403, 404):
                observed[f"{method} {path}"].add(credential)
            if allowed is None:
                continue
            if credential in allowed:
                if status in (401, 403):
                    wrong.append(f"{method} {url} [{credential}]: {status}, the table allows it")
            elif status not in _refusals(credential, path):
                wrong.append(f"{method} {url} [{credential}]: {status}, expected {sorted(_refusals(credential, path))}")
            assert status != 500, (method, url, credential, response.content[:300])
    missing = sorted(set(observed) - set(table))
    listing = "\n".join(f"    {op!r}: {sorted(creds)}," for op, creds in sorted(observed.items()))
    assert not missing, f"operations with no row in AUTH_MATRIX: {missing}\nobserved (not 401/403/404):\n{listing}"
    assert not wrong, "\n".join(wrong)
