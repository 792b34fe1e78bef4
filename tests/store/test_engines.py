"""The engines `serve` runs on: the delivery worker's own PostgreSQL pool, SQLite checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bridge.store.db import checkpoint, make_engine, worker_engine
from bridge.store.migrate import upgrade


@pytest.mark.postgres
def test_the_worker_engine_adds_its_settings_to_the_urls_own(fresh_postgres_url: str) -> None:
    """The URL's search_path (a schema of the test's own here) survives; the worker's sessions
    commit asynchronously and plan without sorts or sequential scans; the main engine's do not."""
    engine = make_engine(fresh_postgres_url)
    worker = worker_engine(engine)
    try:
        assert worker is not engine
        settings = ("search_path", "synchronous_commit", "enable_sort", "enable_seqscan")
        with engine.connect() as main, worker.connect() as own:
            shown = {name: own.execute(text(f"SHOW {name}")).scalar() for name in settings}
            assert shown["search_path"] == main.execute(text("SHOW search_path")).scalar()
            assert shown["search_path"] != '"$user", public'
            assert shown["synchronous_commit"] == "off"
            assert shown["enable_sort"] == "off"
            assert shown["enable_seqscan"] == "off"
            assert main.execute(text("SHOW synchronous_commit")).scalar() == "on"
    finally:
        worker.dispose()
        engine.dispose()


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
