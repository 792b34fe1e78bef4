"""Throwaway databases for the bench: a SQLite file, or a PostgreSQL schema of its own.

A schema per run (dropped afterwards) lets the bench share a PostgreSQL server with the test suite
and other engineers' runs without touching their tables.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from bridge.delivery.serial import LOCK_SUFFIX

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
_counter = itertools.count()


def postgres_url_from_env() -> str:
    return os.environ.get("BRIDGE_TEST_DATABASE_URL", DEFAULT_POSTGRES_URL)


def postgres_problem(url: str) -> str | None:
    """None when PostgreSQL at `url` answers, otherwise the first line of why not."""
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # any driver or network error means "not available"
        return str(exc).strip().splitlines()[0]
    return None


def postgres_version(url: str) -> str | None:
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            version = connection.execute(text("show server_version")).scalar_one()
        engine.dispose()
    except Exception:  # the version is decoration; its absence is not an error
        return None
    return str(version).split()[0]


def with_search_path(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


@contextmanager
def postgres_schema(url: str, prefix: str = "bench") -> Iterator[str]:
    """A URL whose search_path is a new, empty schema, dropped when the block ends."""
    schema = f"{prefix}_{os.getpid()}_{next(_counter)}"
    admin = create_engine(url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield with_search_path(url, schema)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def fresh_database(kind: str, folder: Path, postgres_url: str) -> Iterator[str]:
    """A new, empty database URL of `kind` ("sqlite" or "postgresql"), removed afterwards.

    SQLite: a file named for this process and a counter. A leftover of that name (a run
    killed before it could clean up) is deleted first: a database that already held the last
    run's rows and receiver credentials would measure them too (each extra active secret is one
    more HMAC per delivery)."""
    if kind == "sqlite":
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"bench-{os.getpid()}-{next(_counter)}.db"
        _remove_sqlite(path)
        try:
            yield f"sqlite:///{path}"
        finally:
            _remove_sqlite(path)
        return
    with postgres_schema(postgres_url) as url:
        yield url


def _remove_sqlite(path: Path) -> None:
    """The database file and the files SQLite and the bridge keep beside it."""
    for suffix in ("", "-wal", "-shm", "-journal", LOCK_SUFFIX):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
