"""``SchemaValidator``: a strict check of one real response against a service's OpenAPI schema.

The schema is OpenAPI 3.0 (drf-spectacular); each response schema is translated to JSON Schema
2020-12 and checked with jsonschema, strictly: an object that lists its properties admits no
others, so an undocumented field fails. Used by schema_contract.py (the contract tests every
service runs) and auth_matrix.py.
"""

import json
import re

from jsonschema import Draft202012Validator, FormatChecker

__all__ = ["METHODS", "SchemaValidator", "served_schema", "to_json_schema"]

METHODS = ("get", "post", "put", "patch", "delete")
# The OpenAPI 3.0 keywords JSON Schema does not know (nullable is translated, the rest dropped).
_OPENAPI_ONLY = {"nullable", "readOnly", "writeOnly", "example", "discriminator", "xml", "externalDocs", "deprecated"}


def to_json_schema(node, *, strict: bool = True):
    """OpenAPI 3.0 schema object -> JSON Schema 2020-12. ``strict``: an object that lists its
    properties admits no others, so an undocumented field in a response is a mismatch."""
    if isinstance(node, list):
        return [to_json_schema(item, strict=strict) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {}
    for key, value in node.items():
        if key in _OPENAPI_ONLY:
            continue
        if key == "properties":
            converted[key] = {name: to_json_schema(sub, strict=strict) for name, sub in value.items()}
        else:
            converted[key] = to_json_schema(value, strict=strict)
    if strict and "properties" in converted and "additionalProperties" not in converted:
        converted["additionalProperties"] = False
    if node.get("nullable"):
        if "type" in converted:
            converted["type"] = [converted["type"], "null"]
            if "enum" in converted:
                converted["enum"] = [*converted["enum"], None]
        elif converted:
            converted = {"anyOf": [converted, {"type": "null"}]}
    return converted


def _path_pattern(template: str) -> re.Pattern:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$")


class SchemaValidator:
    """Validates real responses against one service's OpenAPI schema."""

    def __init__(self, schema: dict):
        self.schema = schema
        self.components = to_json_schema(schema.get("components", {}))
        # Literal paths first, so /users/me/ is not taken for /users/{user_id}/.
        self.paths = sorted(schema["paths"], key=lambda p: (p.count("{"), p))
        self.patterns = {path: _path_pattern(path) for path in self.paths}
        self.seen: set[tuple[str, str, int]] = set()  # (method, path template, status) validated

    def operation(self, method: str, path: str) -> tuple[str, dict]:
        for template in self.paths:
            if self.patterns[template].match(path) and method.lower() in self.schema["paths"][template]:
                return template, self.schema["paths"][template][method.lower()]
        raise AssertionError(f"{method.upper()} {path} is not in the schema")

    def errors(self, method: str, path: str, status: int, body, content_type: str = "application/json") -> list[str]:
        """What is wrong with this response, by the schema ([] when it conforms)."""
        template, operation = self.operation(method, path)
        where = f"{method.upper()} {template} -> {status}"
        responses = operation.get("responses", {})
        documented = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
        if documented is None:
            return [f"{where}: status not documented (documented: {sorted(responses)})"]
        content = documented.get("content")
        if not content:
            return [] if body in (None, b"", "") else [f"{where}: body where the schema documents none"]
        media = content.get(content_type.split(";")[0].strip())
        if media is None:
            return [f"{where}: content type {content_type!r} not documented ({sorted(content)})"]
        if "schema" not in media:
            return []
        root = {"components": self.components, "allOf": [to_json_schema(media["schema"])]}
        validator = Draft202012Validator(root, format_checker=FormatChecker())
        return [
            f"{where}: {'/'.join(map(str, error.absolute_path)) or '<body>'}: {error.message[:300]}"
            for error in validator.iter_errors(body)
        ]

    def assert_conforms(self, response, status: int | None = None) -> dict:
        """A Django/DRF test response (of the given status, when given); returns its JSON body."""
        method, path = response.request["REQUEST_METHOD"], response.request["PATH_INFO"]
        if status is not None:
            assert response.status_code == status, (method, path, response.status_code, response.content[:500])
        self.seen.add((method.lower(), self.operation(method, path)[0], response.status_code))
        content_type = response.get("Content-Type", "application/json")
        body = json.loads(response.content) if response.content and "json" in content_type else response.content
        problems = self.errors(method, path, response.status_code, body, content_type)
        assert not problems, "\n".join(problems)
        return body


def served_schema() -> dict:
    from rest_framework.test import APIClient

    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.content[:500]
    return json.loads(response.content)
