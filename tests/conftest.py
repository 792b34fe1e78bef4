"""Fixtures every test can use: a migrated database on each backend, the shared reference data."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from bridge.logs import configure_logging
from bridge.store.db import make_engine
from bridge.store.migrate import upgrade

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() == "true"
PG_URL = os.environ.get(
    "BRIDGE_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
_schemas = itertools.count()


def require_shared(*parts: str) -> Path:
    """A path under ../shared: fails the test in CI when missing, skips it elsewhere."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"reference data {path} is missing"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def ion_schema_dir() -> Path:
    return require_shared("ion-schema")


def _postgres_available() -> str | None:
    try:
        probe = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with probe.connect() as connection:
            connection.execute(text("select 1"))
        probe.dispose()
    except Exception as exc:
        return str(exc).splitlines()[0]
    return None


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL server's URL; the tests needing it fail in CI and skip elsewhere if down."""
    problem = _postgres_available()
    if problem:
        if IN_CI:
            pytest.fail(f"PostgreSQL at {PG_URL} is unreachable: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    return PG_URL


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """A URL whose search_path is a new, empty schema of its own, dropped afterwards.

    A schema per test keeps concurrent test runs on one server out of each other's way.
    """
    schema = f"t_{os.getpid()}_{next(_schemas)}"
    admin = create_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database on each backend: the same tests run on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bridge.db'}"
    else:
        url = request.getfixturevalue("fresh_postgres_url")
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def _quiet_default_logging() -> None:
    """Bridges started in-process without the CLI (which configures its own logging) would log
    with structlog's defaults: every info line to whatever `sys.stdout` is at that moment, which
    between tests, for a bridge a module-scoped fixture keeps running, is the terminal. The
    suite's default keeps warnings and errors, on the stream pytest captures."""
    configure_logging(level="warning", fmt="console")


@pytest.fixture(autouse=True)
def _logging_config_restored() -> Iterator[None]:
    """A test that runs the CLI in-process configures logging onto pytest's capture stream,
    which is closed once that test ends; later tests' log lines would then raise (a worker
    logging a 410 died of it). Each test gets back the configuration it started with."""
    before = structlog.get_config()
    yield
    structlog.configure(**before)
