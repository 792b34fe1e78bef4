"""The engines `serve` runs on: the PostgreSQL sessions of the delivery worker and of the ingest
writer, and SQLite's checkpoints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bridge.store.db import INGEST_OPTIONS, checkpoint, make_engine, worker_engine
from bridge.store.migrate import upgrade

_SETTINGS = ("search_path", "synchronous_commit", "enable_sort", "enable_seqscan")
_MAIN = {"synchronous_commit": "on", "enable_sort": "on", "enable_seqscan": "on"}


def _sessions(url: str, own: Callable[[Engine], Engine]) -> tuple[dict[str, str], dict[str, str]]:
    """The settings a session of the main engine and one of `own(main engine)` see."""
    engine = make_engine(url)
    other = own(engine)
    try:
        assert other is not engine
        with engine.connect() as main, other.connect() as session:
            return (
                {name: str(main.execute(text(f"SHOW {name}")).scalar()) for name in _SETTINGS},
                {name: str(session.execute(text(f"SHOW {name}")).scalar()) for name in _SETTINGS},
            )
    finally:
        other.dispose()
        engine.dispose()


@pytest.mark.postgres
def test_the_worker_engine_adds_its_settings_to_the_urls_own(fresh_postgres_url: str) -> None:
    """The URL's search_path (a schema of the test's own here) survives; the worker's sessions
    commit asynchronously and plan without sorts or sequential scans; the main engine's do not."""
    main, worker = _sessions(fresh_postgres_url, worker_engine)
    assert worker["search_path"] == main["search_path"] != '"$user", public'
    assert {name: main[name] for name in _MAIN} == _MAIN
    assert worker["synchronous_commit"] == worker["enable_sort"] == "off"
    assert worker["enable_seqscan"] == "off"


@pytest.mark.postgres
def test_the_ingest_writers_sessions_add_their_settings_too(fresh_postgres_url: str) -> None:
    """The ingest writer's engine (`INGEST_OPTIONS`): the URL's search_path survives, its
    lookups never scan the table, and its commits stay synchronous: they are what ION's 200
    promises."""
    main, ingest = _sessions(
        fresh_postgres_url,
        lambda engine: make_engine(
            engine.url.render_as_string(hide_password=False), session_options=INGEST_OPTIONS
        ),
    )
    assert ingest["search_path"] == main["search_path"] != '"$user", public'
    assert ingest["enable_seqscan"] == "off"
    assert ingest["synchronous_commit"] == ingest["enable_sort"] == "on"


def test_on_sqlite_the_worker_shares_the_engine(tmp_path: Path) -> None:
    """SQLite's writes are serialised per engine in-process: the worker must use the same one."""
    engine = make_engine(f"sqlite:///{tmp_path}/bridge.db")
    try:
        assert worker_engine(engine) is engine
    finally:
        engine.dispose()


def _wal(engine: Engine) -> tuple[int, int]:
    """(frames in the WAL, frames of them already copied into the database file)."""
    with engine.connect() as connection:
        _, frames, copied = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    return frames, copied


def _fill(engine: Engine, rows: int) -> None:
    """`rows` rows of ~4 KiB (a page or more each), committed a hundred at a time."""
    value = '"' + "x" * 4000 + '"'
    raw = engine.raw_connection()
    try:
        for start in range(0, rows, 100):
            cursor = raw.cursor()
            cursor.executemany(
                "INSERT INTO bridge_state (key, value, updated_at) VALUES (?, ?, ?)",
                [(f"k{i}", value, "2026-12-02") for i in range(start, start + 100)],
            )
            cursor.close()
            raw.commit()
    finally:
        raw.close()


@pytest.mark.parametrize("autocheckpoint", [False, True])
def test_serve_checkpoints_the_wal_itself_not_on_a_commit(
    tmp_path: Path, autocheckpoint: bool
) -> None:
    """As `serve` runs (autocheckpoint off), commits leave the WAL to grow past SQLite's
    1,000-page mark instead of one of them stopping to checkpoint it; `checkpoint` then copies
    it all into the database file. With SQLite's default the WAL never gets that far."""
    engine = make_engine(f"sqlite:///{tmp_path}/bridge.db", wal_autocheckpoint=autocheckpoint)
    upgrade(engine)
    _fill(engine, 1500)
    pages = Path(f"{tmp_path}/bridge.db-wal").stat().st_size // 4096
    assert (pages > 1400) is not autocheckpoint, pages
    checkpoint(engine)
    frames, copied = _wal(engine)
    assert frames == copied
    engine.dispose()
