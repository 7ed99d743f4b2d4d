"""OpenAPI descriptions of the shared authentication classes (drf-spectacular extensions).

Imported by ``authentication`` so the extensions register wherever the classes are used.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class PlatformJWTScheme(OpenApiAuthenticationExtension):
    target_class = "notification_common.authentication.PlatformJWTAuthentication"
    name = "userToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "notification_common.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-API-Key"}


# -- the envelope and the error responses in every schema -----------------------------------------
#
# Views describe only the ``data`` they answer; every JSON response goes out wrapped in the
# envelope (``envelope.py``), errors included. This hook writes that truth into the schema once
# for all services, so a client generated from it parses real responses
# (docs/api.md, "What the schemas promise"; tests: testing/schema_contract.py).

METHODS = ("get", "post", "put", "patch", "delete")
PAGE_META = "PageMeta"
ERROR_ENVELOPE = "ErrorEnvelope"

# An operation opts out with ``extend_schema(extensions={BARE: True})`` when it answers a
# document of a standard shape (JWKS) instead of the envelope.
BARE = "x-bare-response"
# A GET answering an array is a paginated list (``pagination.paginate``) unless it says otherwise.
UNPAGINATED = "x-unpaginated"

ERROR_DESCRIPTIONS = {
    "400": "Invalid input (validation_error, parse_error): field errors in data.",
    "401": "No credential, or one that is invalid, expired or revoked.",
    "403": "The credential may not do this (permission_denied).",
    "404": "No such resource, or not the caller's (not_found).",
    "409": "Conflicts with the current state (conflict, idempotency_conflict, ...).",
    "413": "The body is larger than the service accepts (payload_too_large).",
    "415": "The body is not JSON (unsupported_media_type).",
    "422": "Well formed, but cannot be done (preference_disabled, missing_variables, ...).",
    "429": "Too many requests (rate_limited); Retry-After says when to come back.",
    "503": "A dependency is down or the service is overloaded; Retry-After says when to retry.",
}


def error_responses(*statuses: int) -> dict:
    """``extend_schema(responses={..., **error_responses(409, 422)})`` for the errors that only
    some operations give; the hook fills in the ErrorEnvelope body."""
    from drf_spectacular.utils import OpenApiResponse

    return {status: OpenApiResponse(description=ERROR_DESCRIPTIONS[str(status)]) for status in statuses}


def _page_meta_schema() -> dict:
    counts = {name: {"type": "integer", "minimum": 0} for name in ("total", "limit", "page", "total_pages")}
    flags = {"has_next": {"type": "boolean"}, "has_previous": {"type": "boolean"}}
    return {"type": "object", "properties": counts | flags, "required": [*counts, *flags]}


def _error_envelope_schema() -> dict:
    return {
        "type": "object",
        "properties": {
            "success": {"type": "boolean", "enum": [False]},
            # Field errors (validation_error), the dependency (503), retry_after (429), or null.
            "data": {"nullable": True},
            "error": {"type": "string", "description": "A stable machine-readable code."},
            "message": {"type": "string"},
            "meta": {"type": "object", "nullable": True},
        },
        "required": ["success", "data", "error", "message", "meta"],
    }


def _envelope(data: dict, *, paginated: bool) -> dict:
    meta = {"$ref": f"#/components/schemas/{PAGE_META}"} if paginated else {"type": "object", "nullable": True}
    return {
        "type": "object",
        "properties": {
            "success": {"type": "boolean", "enum": [True]},
            "data": data,
            "error": {"type": "string", "nullable": True},
            "message": {"type": "string"},
            "meta": meta,
        },
        "required": ["success", "data", "error", "message", "meta"],
    }


def _is_envelope(schema: dict) -> bool:
    return {"success", "data", "meta"} <= set(schema.get("properties", {}))


def _wrap_success(operation: dict, method: str) -> bool:
    """Wraps each 2xx body in the envelope; True when the operation is a paginated list."""
    paginated = False
    for status, response in operation.get("responses", {}).items():
        if not status.startswith("2") or status == "204":
            continue
        content = response.setdefault("content", {"application/json": {"schema": {"nullable": True}}})
        media = content.get("application/json")
        if media is None:
            continue
        schema = media.get("schema", {"nullable": True})
        if _is_envelope(schema):  # PageLimitPagination.get_paginated_response_schema
            schema = schema["properties"]["data"]
            is_list = True
        else:
            is_list = method == "get" and schema.get("type") == "array" and not operation.get(UNPAGINATED)
        paginated = paginated or is_list
        media["schema"] = _envelope(schema, paginated=is_list)
    return paginated


def _add_page_parameters(operation: dict) -> None:
    present = {(p.get("in"), p.get("name")) for p in operation.get("parameters", [])}
    for name, description in (("page", "Page number, from 1 (capped)."), ("limit", "Items per page, 1 to 100.")):
        if ("query", name) not in present:
            operation.setdefault("parameters", []).append(
                {
                    "in": "query",
                    "name": name,
                    "required": False,
                    "description": description,
                    "schema": {"type": "integer"},
                }
            )


def _error_statuses(path: str, method: str, operation: dict) -> list[str]:
    security = operation.get("security") or [{}]
    needs_credential = any(requirement for requirement in security)
    api_key = any("apiKey" in requirement for requirement in security)
    has_body = "requestBody" in operation
    has_query = any(p.get("in") in ("query", "header") for p in operation.get("parameters", []))
    statuses = ["503"]
    if has_body or has_query or "{" in path:  # a malformed id in the path is a 400 where it is parsed
        statuses.append("400")
    if needs_credential:
        statuses += ["401", "403"]
    if "{" in path:
        statuses.append("404")
    if has_body:
        statuses += ["413", "415"]
    if api_key:  # failed key lookups are rate-limited per address (authentication.py)
        statuses.append("429")
    return statuses


def postprocess_envelope(result, generator, request, public, **kwargs):
    """drf-spectacular post-processing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"])."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas[PAGE_META] = _page_meta_schema()
    schemas[ERROR_ENVELOPE] = _error_envelope_schema()
    error_body = {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_ENVELOPE}"}}}
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in METHODS or operation.pop(BARE, False):
                continue
            if _wrap_success(operation, method):
                _add_page_parameters(operation)
            operation.pop(UNPAGINATED, None)
            responses = operation.setdefault("responses", {})
            for status in _error_statuses(path, method, operation):
                responses.setdefault(status, {"description": ERROR_DESCRIPTIONS[status]})
            for status, response in responses.items():
                if status[0] in "45":
                    response["content"] = error_body
                    response.setdefault("description", ERROR_DESCRIPTIONS.get(status, ""))
            operation["responses"] = dict(sorted(responses.items()))
    return result
