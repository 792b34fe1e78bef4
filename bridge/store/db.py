"""The database: one engine per process, built from `BRIDGE_DATABASE_URL`.

SQLite (the default, a file under `var/`) runs in WAL mode so readers never block the writer;
PostgreSQL is used through psycopg 3. Driver errors are translated into StorageError here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.pool import QueuePool
from sqlmodel import Session, create_engine

from bridge.errors import ConfigError, StorageError, StorageUnavailable


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def sqlite_file(url: URL) -> str | None:
    """The file of a SQLite URL; None for an in-memory SQLite database or another backend."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return str(url.database)


#: Session settings of the delivery worker's own PostgreSQL connections (see `worker_engine`).
WORKER_OPTIONS = "-c synchronous_commit=off -c enable_sort=off -c enable_seqscan=off"

#: Session settings of the ingest writer's PostgreSQL connections (`bridge.inbox.process`). Its
#: commits stay synchronous: they are what ION's 200 promises. Its lookups (dedupe keys,
#: watermarks) are by unique key, but on a table whose statistics predate the current batch of
#: traffic (a fresh one looks empty until autovacuum analyzes it) the planner scanned the whole
#: table for them: 2.4–2.8 ms a lookup against 0.3–0.5 ms by index, at a few thousand rows.
INGEST_OPTIONS = "-c enable_seqscan=off"


def make_engine(
    url: str, *, wal_autocheckpoint: bool = True, session_options: str | None = None
) -> Engine:
    """An engine for `url`; the SQLite file's folder is created and checked for writing.

    `wal_autocheckpoint=False` (SQLite; `bridge serve`): commits never checkpoint the WAL
    themselves; the owner calls `checkpoint` in the background instead (see there).
    `session_options` (PostgreSQL; e.g. `INGEST_OPTIONS`): settings of every session this
    engine opens, added to the URL's own `options`.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError("BRIDGE_DATABASE_URL", "is not a valid SQLAlchemy URL") from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database, autocheckpoint=wal_autocheckpoint)
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        parsed, connect_args = _with_options(parsed, session_options)
        return create_engine(
            parsed,
            connect_args=connect_args,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=10,
            pool_timeout=10,
        )
    raise ConfigError("BRIDGE_DATABASE_URL", "must be a sqlite:/// or postgresql+psycopg:// URL")


def _with_options(url: URL, options: str | None) -> tuple[URL, dict[str, Any]]:
    """`url` and the `connect_args` that give its sessions `options` as well as the URL's own
    (e.g. a search_path), never in place of them. As connection options they cost nothing per
    transaction (a `SET` would be a round trip each)."""
    if not options:
        return url, {}
    given = url.query.get("options")
    own = " ".join(given) if isinstance(given, tuple) else given
    merged = f"{own} {options}" if own else options
    return url.difference_update_query(["options"]), {"options": merged}


def worker_engine(engine: Engine) -> Engine:
    """The engine the delivery worker writes through: `engine` itself on SQLite (its writes must
    share the in-process write lock), a small pool of its own on PostgreSQL whose sessions:

    - commit without waiting for the disk: a claim or a settled result lost in an OS crash only
      means a delivery is sent again (at least once). What ION was promised, the inbox's
      commits, stays synchronous;
    - plan without sorts or sequential scans: a queue's statistics are stale exactly when it
      matters (a backlog built since the last ANALYZE looks empty), and the planner then sorted
      every due row (10 ms per claim at 3,000 queued, measured) or tested each candidate's head
      with a scan of the table. Every statement the worker runs has an index made for it;
    - skip the ping before each checkout: a dead connection fails the exchange, the pool is
      invalidated, and the worker tries again with its results kept.

    As connection options these cost nothing per transaction (a round trip each, before).
    """
    if is_sqlite(engine):
        return engine
    url, connect_args = _with_options(engine.url, WORKER_OPTIONS)
    return create_engine(
        url,
        connect_args=connect_args,
        pool_pre_ping=False,
        pool_size=2,
        max_overflow=4,
        pool_timeout=10,
    )


def _sqlite_engine(url: str, database: str | None, *, autocheckpoint: bool) -> Engine:
    if database and database != ":memory:":
        folder = Path(database).resolve().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                "BRIDGE_DATABASE_URL", f"cannot create the folder {folder}: {exc.strerror}"
            ) from None
        if not os.access(folder, os.W_OK) or (
            Path(database).exists() and not os.access(database, os.W_OK)
        ):
            raise ConfigError(
                "BRIDGE_DATABASE_URL", f"the database path {database} is not writable"
            )
    # A small pool of long-lived connections: opening one costs ~1 ms and closing the last one
    # checkpoints the WAL (~5 ms), which dominated a write batch with a connection per checkout.
    # check_same_thread is off because the pool hands a connection to one thread at a time.
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        poolclass=QueuePool,
        pool_size=5,
        max_overflow=10,
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed transaction survives a process crash (kill -9);
        # only an OS crash or power loss can lose the last commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    return engine


def checkpoint(engine: Engine) -> None:
    """SQLite: copy committed WAL pages into the database file, blocking no reader or writer.

    By default the commit that takes the WAL past 1,000 pages runs the checkpoint itself, and
    that request waits for it: the slowest answers to ION at half the inbox's saturation rate
    (p99 ~24–36 ms against ~14–18 ms with checkpoints moved off the commit path, in side-by-side
    runs). `bridge serve` checkpoints from a background thread instead (PASSIVE: it copies what
    no reader still needs and gives way to writers).
    """
    if not is_sqlite(engine):
        return
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work: commits when the block succeeds, rolls back otherwise."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except DBAPIError as exc:
        session.rollback()
        raise storage_error(exc) from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def connection_scope(engine: Engine) -> Iterator[Connection]:
    """`session_scope` for Core statements alone: a connection in a transaction, without the
    ORM session's bookkeeping (~40 µs a transaction, on the inbox's hot path)."""
    try:
        with engine.begin() as connection:
            yield connection
    except DBAPIError as exc:
        raise storage_error(exc) from exc


def storage_error(exc: DBAPIError) -> StorageError:
    """The driver's error as the bridge reports it: StorageUnavailable when the database could
    not be used at all (OperationalError: down, locked, out of space), StorageError otherwise.
    Raise it `from exc`: the writer's race retry looks at the cause."""
    if isinstance(exc, OperationalError):
        return StorageUnavailable(f"database unavailable: {_first_line(exc)}")
    return StorageError(f"database error: {_first_line(exc)}")


def _first_line(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__


def schema_is_current(engine: Engine) -> bool:
    """True when the migrations have been applied (the `deliveries` table exists)."""
    try:
        return inspect(engine).has_table("deliveries")
    except OperationalError as exc:
        raise StorageUnavailable(f"database unavailable: {_first_line(exc)}") from exc
