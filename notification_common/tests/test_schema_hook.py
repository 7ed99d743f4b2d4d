"""The schema hook: every 2xx wrapped in the envelope, the errors each operation gives."""

from notification_common.schema import BARE, UNPAGINATED, postprocess_envelope

ITEM = {"$ref": "#/components/schemas/Item"}
ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}


def json_response(schema) -> dict:
    return {"content": {"application/json": {"schema": schema}}, "description": ""}


def run(paths: dict) -> dict:
    return postprocess_envelope({"paths": paths, "components": {"schemas": {}}}, None, None, True)["paths"]


def test_a_list_is_a_page_in_the_envelope_with_page_and_limit():
    paths = run({"/items/": {"get": {"responses": {"200": json_response({"type": "array", "items": ITEM})}}}})

    operation = paths["/items/"]["get"]
    body = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert body["properties"]["data"] == {"type": "array", "items": ITEM}
    assert body["properties"]["meta"] == {"$ref": "#/components/schemas/PageMeta"}
    assert body["required"] == ["success", "data", "error", "message", "meta"]
    assert {p["name"] for p in operation["parameters"]} == {"page", "limit"}
    assert set(operation["responses"]) == {"200", "400", "503"}


def test_an_object_has_null_meta_and_a_cursor_feed_is_no_page():
    paths = run(
        {
            "/items/{id}/": {"get": {"responses": {"200": json_response(ITEM)}, "security": [{"apiKey": []}]}},
            "/feed/": {"get": {"responses": {"200": json_response({"type": "array"})}, UNPAGINATED: True}},
        }
    )

    detail = paths["/items/{id}/"]["get"]
    meta = detail["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["meta"]
    assert meta == {"type": "object", "nullable": True}
    assert set(detail["responses"]) == {"200", "400", "401", "403", "404", "429", "503"}
    assert all(detail["responses"][s]["content"] == ERROR for s in ("400", "401", "403", "404", "429", "503"))
    feed = paths["/feed/"]["get"]
    assert "parameters" not in feed and UNPAGINATED not in feed


def test_a_body_may_be_too_large_or_not_json_and_declared_errors_get_the_error_body():
    paths = run(
        {
            "/items/": {
                "post": {
                    "requestBody": {},
                    "security": [{"userToken": []}, {}],
                    "responses": {"201": json_response(ITEM), "409": {"description": "conflict"}},
                }
            }
        }
    )

    responses = paths["/items/"]["post"]["responses"]
    assert set(responses) == {"201", "400", "401", "403", "409", "413", "415", "503"}
    assert responses["409"]["content"] == ERROR


def test_a_bare_document_stays_as_it_is():
    jwks = json_response({"type": "object"})
    paths = run({"/jwks/": {"get": {"responses": {"200": jwks}, BARE: True}}})

    assert paths["/jwks/"]["get"] == {"responses": {"200": json_response({"type": "object"})}}
