"""The schema comes from the migrations, and the migrations match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import bridge.store.models  # noqa: F401
from bridge.store.migrate import current_revision, upgrade


def test_upgrade_creates_every_table_and_is_repeatable(engine: Engine) -> None:
    """Running the migrations twice leaves the schema at head with every model's table."""
    upgrade(engine)
    tables = set(inspect(engine).get_table_names())
    assert set(SQLModel.metadata.tables) <= tables
    assert current_revision(engine) is not None


def test_migrations_match_the_models(engine: Engine) -> None:
    """A model changed without a migration is caught here, on both backends."""
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == []
