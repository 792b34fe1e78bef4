"""The delivery worker's own PostgreSQL engine: its session settings, and the URL's kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from bridge.store.db import make_engine, worker_engine


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
