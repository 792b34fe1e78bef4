"""Every operation document under graphql/ (any folder, whoever wrote it) validates against ION's
schema excerpt and against the stand-in's SDL, and follows the one-operation-per-file rule."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from graphql import GraphQLSchema, OperationDefinitionNode, build_schema, parse, validate

from bridge.resources import SCHEMA_FILES, data_dir
from tests.conftest import require_shared

GRAPHQL = data_dir("graphql")
DOCUMENTS = sorted(p for p in GRAPHQL.rglob("*.graphql") if p.name not in SCHEMA_FILES)


@cache
def _schema(path: Path) -> GraphQLSchema:
    return build_schema(path.read_text(encoding="utf-8"))


def _ids(path: Path) -> str:
    return str(path.relative_to(GRAPHQL))


def test_there_are_documents_to_check() -> None:
    """The provisioning documents exist (an empty glob would make every test below vacuous)."""
    names = {p.stem for p in DOCUMENTS}
    assert {"WebhookReceivers", "CreateWebhookReceiver", "ResourceEnumValues"} <= names


@pytest.mark.parametrize("path", DOCUMENTS, ids=_ids)
def test_document_validates_against_ion_excerpt(path: Path) -> None:
    """Valid against ION's own schema (the 2023 excerpt in ../shared)."""
    excerpt = require_shared("ion-schema", "ion-excerpt.graphql")
    errors = validate(_schema(excerpt), parse(path.read_text(encoding="utf-8")))
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize("path", DOCUMENTS, ids=_ids)
def test_document_validates_against_standin_sdl(path: Path) -> None:
    """Valid against the stand-in's schema, so tests exercise the same documents as production."""
    errors = validate(
        _schema(GRAPHQL / "ion-standin.graphql"), parse(path.read_text(encoding="utf-8"))
    )
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize("path", DOCUMENTS, ids=_ids)
def test_one_operation_per_file_named_after_it(path: Path) -> None:
    """Each file holds exactly one named operation, and the file is named after it."""
    document = parse(path.read_text(encoding="utf-8"))
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    assert len(operations) == 1
    assert operations[0].name is not None
    assert operations[0].name.value == path.stem
