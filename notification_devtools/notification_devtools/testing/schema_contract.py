"""Tests every service runs against its own OpenAPI schema: the schema tells the truth.

A service's ``tests/test_schema_contract.py`` imports them
(``from notification_devtools.testing.schema_contract import *``), like ``service_contract.py``.
The schema is the one the service serves (``/api/schema/``), post-processed by
``notification_common.schema.postprocess_envelope``. Two kinds of proof:

- ``SchemaValidator.assert_conforms(response)`` (openapi_validator.py): a strict check of one
  real response (status documented, body valid against the OpenAPI schema with no undocumented
  fields). The services' own conformance tests call their endpoints with real data and pass
  each response through it.
- ``test_fuzzed_requests_get_no_5xx_and_conforming_responses``: schemathesis generates valid and
  invalid requests for every operation (``SCHEMA_FUZZ_EXAMPLES`` per operation and credential,
  5 by default; ``make fuzz`` runs many more) against the service on a live server with its
  test database, then stateful runs (sequences along the links schemathesis infers: create,
  then read, change, delete): 0 responses 5xx, 0 responses the schema does not describe.

The fixture ``schema_fuzz_headers`` (a list of header dicts, one run each) gives the credentials
to fuzz with; a service overrides it (the admin service fuzzes with an admin token).
"""

import os
import re
from contextlib import contextmanager

import pytest

from notification_devtools.testing.openapi_validator import METHODS, SchemaValidator, served_schema

__all__ = [
    "SchemaValidator",
    "other_services",
    "other_services_stubbed",
    "schema_fuzz_headers",
    "schema_validator",
    "test_every_operation_documents_the_envelope_and_its_errors",
    "test_fuzzed_requests_get_no_5xx_and_conforming_responses",
    "test_schema_and_docs_ignore_a_bad_credential",
    "test_the_validator_refuses_an_undocumented_field_a_null_and_an_undocumented_status",
]


@pytest.fixture(scope="session")
def schema_validator(django_db_setup, django_db_blocker) -> SchemaValidator:
    with django_db_blocker.unblock():
        return SchemaValidator(served_schema())


def _bare(operation: dict) -> bool:
    """The few operations that answer a standard document, not the envelope (JWKS)."""
    ok = [r for s, r in operation["responses"].items() if s.startswith("2")]
    schemas = [m.get("schema", {}) for r in ok for m in r.get("content", {}).values()]
    return bool(schemas) and not any("success" in s.get("properties", {}) for s in schemas)


def test_every_operation_documents_the_envelope_and_its_errors(schema_validator):
    schema = schema_validator.schema
    assert {"ErrorEnvelope", "PageMeta"} <= set(schema["components"]["schemas"])
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in METHODS or _bare(operation):
                continue
            where = f"{method.upper()} {path}"
            responses = operation["responses"]
            assert "503" in responses, where
            for status, response in responses.items():
                media = response.get("content", {}).get("application/json", {})
                if status[0] in "45":
                    assert media["schema"] == {"$ref": "#/components/schemas/ErrorEnvelope"}, where
                elif status != "204":
                    assert media["schema"]["required"] == ["success", "data", "error", "message", "meta"], where
            if any(requirement for requirement in operation.get("security", [{}])):
                assert {"401", "403"} <= set(responses), where
            if "{" in path:
                assert "404" in responses, where
            if "requestBody" in operation:
                assert {"400", "413"} <= set(responses), where


def test_the_validator_refuses_an_undocumented_field_a_null_and_an_undocumented_status(schema_validator):
    """The validator is strict, or the conformance tests would prove nothing."""
    v = schema_validator
    path = next(p for p in v.paths if "get" in v.schema["paths"][p] and "{" not in p and "health" in p)
    ok = {"success": True, "data": {}, "error": None, "message": "", "meta": None}
    error = {"success": False, "data": None, "error": "not_found", "message": "Not found.", "meta": None}

    assert v.errors("get", path, 503, error) == []
    assert v.errors("get", path, 503, {**error, "surprise": 1})  # an undocumented field
    assert v.errors("get", path, 503, {**error, "message": None})  # null where the schema says string
    assert v.errors("get", path, 418, error)  # an undocumented status
    assert v.errors("get", path, 200, {**ok, "success": False})


def test_schema_and_docs_ignore_a_bad_credential(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token", HTTP_X_API_KEY="not-a-key")
    assert api_client.get("/api/schema/").status_code == 200
    assert api_client.get("/api/docs/").status_code == 200


# -- fuzzing with schemathesis -------------------------------------------------------------------

FUZZ_EXAMPLES_ENV = "SCHEMA_FUZZ_EXAMPLES"


@pytest.fixture
def schema_fuzz_headers(internal_key) -> list[dict]:
    """The credentials to fuzz with, one run each; a service overrides this fixture."""
    return [{"X-API-Key": internal_key}]


@contextmanager
def other_services_stubbed(stub_server):
    """Every other service is one loopback stub (unrouted paths answer 404 in the envelope), so
    a fuzzed request never reaches whatever runs on the developer's machine."""
    from django.conf import settings

    from notification_common.service_clients import reset_clients

    names = [name for name in dir(settings) if name.endswith("_SERVICE_URL")]
    saved = {name: getattr(settings, name) for name in names}
    for name in names:
        setattr(settings, name, stub_server.url)
    reset_clients()
    try:
        yield stub_server
    finally:
        for name, value in saved.items():
            setattr(settings, name, value)
        reset_clients()


@pytest.fixture
def other_services(stub_server):
    """The stub of the other services; a service's tests override this to route what it needs."""
    with other_services_stubbed(stub_server) as stub:
        yield stub


def fuzz(schema: dict, *, base_url: str, headers: dict, examples: int) -> tuple[int, list[str]]:
    """Runs schemathesis over every operation, valid and invalid inputs; (requests sent, failures)."""
    import schemathesis

    api = schemathesis.openapi.from_dict(schema)
    # OpenAPI matches a concrete path before a templated one: a generated /templates/{code}/ that
    # comes out as /templates/stats/ is the stats operation, not a template, so it is not sent.
    concrete = {path for path in schema.get("paths", {}) if "{" not in path}
    sent, failures, seen = 0, [], set()
    for result in api.get_all_operations():
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            count, found = _fuzz_operation(
                result.ok(), mode, base_url=base_url, headers=headers, examples=examples, concrete=concrete
            )
            sent += count
            for failure in found:
                # One report per operation and kind of failure (hypothesis shrinks: it repeats them).
                kind = re.sub(r"\s+", " ", failure.split("Reproduce with")[0])[:400]
                if kind not in seen:
                    seen.add(kind)
                    failures.append(failure[:1500])
    return sent, failures


def _fuzz_operation(
    operation, mode, *, base_url: str, headers: dict, examples: int, concrete: frozenset | set = frozenset()
) -> tuple[int, list[str]]:
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.failures import FailureGroup
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    sent, failures = 0, []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests on every run: a failure in CI reproduces locally
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        nonlocal sent
        if "{" in operation.path and case.formatted_path in concrete:
            return  # another operation's path (see fuzz())
        sent += 1
        try:
            case.call_and_validate(base_url=base_url, headers=headers, checks=checks, timeout=30)
        except (AssertionError, FailureGroup) as failure:
            failures.append(f"{operation.label} [{mode.value}]: {failure}")

    try:
        run()
    except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
        pass
    return sent, failures


def fuzz_stateful(schema: dict, *, base_url: str, headers: dict, examples: int) -> tuple[int, list[str]]:
    """Sequences of calls along the links schemathesis infers between operations (create, then
    read, change, delete what was created): the write runs, against the test database."""
    import schemathesis
    from hypothesis import HealthCheck, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.failures import FailureGroup
    from schemathesis.generation.stateful import run_state_machine_as_test
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

    calls = 0

    class Scenario(schemathesis.openapi.from_dict(schema).as_state_machine()):
        def after_call(self, response, case):
            nonlocal calls
            calls += 1

        def get_call_kwargs(self, case):
            return {"base_url": base_url, "headers": headers, "timeout": 30}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=checks, transport_kwargs=kwargs)

    try:
        run_state_machine_as_test(
            Scenario,
            settings=settings(
                max_examples=examples,
                stateful_step_count=6,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            ),
        )
    except (AssertionError, FailureGroup) as failure:
        return calls, [f"stateful: {str(failure)[:3000]}"]
    return calls, []


@pytest.mark.django_db(transaction=True)
def test_fuzzed_requests_get_no_5xx_and_conforming_responses(
    live_server, rabbitmq_url, healthy_service, schema_fuzz_headers, other_services
):
    schema = served_schema()
    examples = int(os.environ.get(FUZZ_EXAMPLES_ENV, "5"))
    total, failures = 0, []
    for headers in schema_fuzz_headers:
        sent, found = fuzz(schema, base_url=live_server.url, headers=headers, examples=examples)
        total += sent
        failures += found
        sent, found = fuzz_stateful(schema, base_url=live_server.url, headers=headers, examples=examples)
        total += sent
        failures += found
    assert total > 0
    # One failure per operation and kind is enough to read; the count says the rest.
    assert not failures, f"{len(failures)} of {total} fuzzed requests failed:\n" + "\n\n".join(failures[:20])
