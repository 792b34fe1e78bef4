"""The scenario's and demo's GraphQL documents against ION's schema excerpt."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLSchema, build_schema, parse, validate

from bridge.sandbox.scenario import load_document
from tests.conftest import require_shared

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted((ROOT / "graphql" / "sandbox").glob("*.graphql"))


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    excerpt = require_shared("ion-schema", "ion-excerpt.graphql")
    return build_schema(excerpt.read_text(encoding="utf-8"))


def test_there_are_documents() -> None:
    """The sandbox documents exist where the loader looks."""
    assert len(DOCUMENTS) >= 10


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.stem)
def test_document_is_valid_and_named_after_its_operation(schema: GraphQLSchema, path: Path) -> None:
    """Each file holds one operation, named as the file, valid against ION's schema."""
    document = parse(load_document(path.stem))
    (operation,) = document.definitions
    assert getattr(operation, "name", None) is not None
    assert operation.name.value == path.stem  # type: ignore[attr-defined]
    assert validate(schema, document) == []
