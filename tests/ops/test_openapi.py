"""The admin API's OpenAPI description: valid, complete, served behind the token, and true
(a schema-driven fuzz run against the live API finds no 500s and no answer it does not describe)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import positive_data_acceptance
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR
from starlette.routing import Mount, Route

from bridge.app import create_app
from bridge.openapi import description
from tests.ui.stack import ADMIN_TOKEN, running_stack

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_description_is_valid_openapi_31() -> None:
    """The document passes the OpenAPI 3.1 meta-schema and every schema is valid JSON Schema."""
    document = description()
    errors = [str(error) for error in OPENAPI_31_VALIDATOR.iter_errors(document)]
    assert errors == []
    for name, schema in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name
    validate(document)  # the reference validator as well


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node))
    return set()


def test_every_reference_resolves() -> None:
    """No `$ref` points at a component that is not there."""
    document = description()
    for ref in _refs(document):
        _, section, kind, name = ref.split("/")
        assert name in document[section][kind], ref


def test_description_covers_every_admin_route(tmp_path: Path) -> None:
    """Every route under /api in the served app is described, and nothing else is."""
    with running_stack(f"sqlite:///{tmp_path / 'bridge.db'}", tmp_path, reconcile=True) as stack:
        app = create_app(stack.bridge)
    served: set[tuple[str, str]] = set()
    for mount in app.routes:
        if isinstance(mount, Mount) and mount.path == "/api":
            for route in mount.routes:
                assert isinstance(route, Route)
                served |= {(f"/api{route.path}", m.lower()) for m in route.methods or ()}
    served -= {(path, "head") for path, _ in served}
    documented = {(path, m) for path, item in description()["paths"].items() for m in item}
    assert served == documented


def test_served_description_needs_the_token(tmp_path: Path) -> None:
    """/api/openapi.json answers 401 without the token and the document with it."""
    with running_stack(f"sqlite:///{tmp_path / 'bridge.db'}", tmp_path) as stack:
        anonymous = httpx.get(f"{stack.url}/api/openapi.json", timeout=10)
        wrong = httpx.get(
            f"{stack.url}/api/openapi.json", headers={"Authorization": "Bearer nope"}, timeout=10
        )
        served = httpx.get(f"{stack.url}/api/openapi.json", headers=AUTH, timeout=10)
    assert anonymous.status_code == wrong.status_code == 401
    assert anonymous.json() == wrong.json() == {"error": "unauthorized"}
    assert served.json() == description()


@pytest.mark.slow
def test_fuzzing_the_admin_api_finds_no_errors(tmp_path: Path) -> None:
    """Generated requests to every operation never get a 5xx or an undocumented answer."""
    with running_stack(f"sqlite:///{tmp_path / 'bridge.db'}", tmp_path, reconcile=True) as stack:
        stack.violet_fault({"status": 400, "count": 1})
        for entity in (42, 43, 44):
            stack.deliver(entity_id=entity)
        schema = schemathesis.openapi.from_url(f"{stack.url}/api/openapi.json", headers=AUTH)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {op.label for op in operations} >= {"GET /api/events", "POST /api/events/resend"}
        failures: list[str] = []
        for operation in operations:

            @settings(
                max_examples=25,
                derandomize=True,  # the same requests every run: a CI gate must not flake
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def fuzz(case: schemathesis.Case) -> None:
                # Every documented check except "valid data is accepted": the API rightly answers
                # 400 to well-typed values it cannot use (an unknown resource name), as documented.
                case.call_and_validate(
                    base_url=stack.url, headers=AUTH, excluded_checks=[positive_data_acceptance]
                )

            try:
                fuzz()
            # Collect every operation's failures (schemathesis raises an exception group).
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label}: {exc}")
        assert not failures, "\n\n".join(failures)
