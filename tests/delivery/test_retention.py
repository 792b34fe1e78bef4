"""Retention: settled deliveries and finished runs past `retention_days` go; nothing open or
undelivered ever does. Both backends, through the real store, claim and settle paths."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bridge.delivery import claims, retention
from bridge.delivery.claims import AttemptResult
from bridge.delivery.serial import write_connection
from bridge.inbox import codec
from bridge.inbox.store import Incoming, store_batch
from bridge.metrics import Metrics
from bridge.store.db import make_engine, session_scope
from bridge.store.migrate import upgrade
from bridge.store.models import Attempt, Delivery, DeliveryStatus, ReconcileRun
from tests.test_cli import run_bridge

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=40)
RECENT = NOW - timedelta(days=2)


def receive(engine: Engine, event_id: int, entity: int, at: datetime) -> int:
    """An ION event stored by the inbox's own path at `at`; its delivery id."""
    body = json.dumps({"event_id": event_id, "resource": "PARTS", "id": entity}).encode()
    with write_connection(engine) as connection:
        item = Incoming(body=body, content_type="application/json", event=codec.parse(body))
        return store_batch(connection, [item], now=at)[0].delivery_id


def attempt(engine: Engine, delivery_id: int, at: datetime, status: str) -> None:
    """Claim `delivery_id` at `at` and settle it as the worker does (`next_attempt_at` = the
    moment of the settle plus the retry delay, 0 once it is over)."""
    with session_scope(engine) as session:
        claimed = claims.claim(session, owner="w", limit=1, now=at, lease_seconds=60)
    assert [row.id for row in claimed] == [delivery_id]
    result = AttemptResult(
        started_at=at,
        duration_ms=1.0,
        outcome={"SUCCEEDED": "succeeded", "FAILED": "failed"}.get(status, "retry"),
        status=status,
        attempts=1,
        next_attempt_at=at,
        status_code=200 if status == DeliveryStatus.SUCCEEDED else 500,
    )
    with session_scope(engine) as session:
        assert claims.finish_many(session, [(delivery_id, result)], owner="w") == [True]


def run(engine: Engine, started: datetime, status: str = "COMPLETED") -> None:
    finished = None if status == "RUNNING" else started + timedelta(seconds=1)
    with session_scope(engine) as session:
        session.add(
            ReconcileRun(
                trigger="schedule", status=status, started_at=started, finished_at=finished
            )
        )


def remaining(engine: Engine) -> tuple[list[tuple[int, str]], list[int], list[str]]:
    with session_scope(engine) as session:
        deliveries = [
            (d.id or 0, d.status) for d in session.exec(select(Delivery).order_by(col(Delivery.id)))
        ]
        attempts = sorted(a.delivery_id for a in session.exec(select(Attempt)))
        runs = sorted(
            f"{r.status}@{r.started_at:%m-%d}" for r in session.exec(select(ReconcileRun))
        )
    return deliveries, attempts, runs


def test_only_settled_deliveries_and_finished_runs_past_retention_go(engine: Engine) -> None:
    """Old SUCCEEDED (with its attempts, a retry among them) and old SUPERSEDED go; old FAILED,
    old PENDING and anything recent stay. A dry run counts exactly what the prune deletes."""
    delivered = receive(engine, 10, entity=1, at=OLD)
    attempt(engine, delivered, OLD, DeliveryStatus.PENDING)  # a retry first
    attempt(engine, delivered, OLD + timedelta(minutes=5), DeliveryStatus.SUCCEEDED)
    superseded = receive(engine, 9, entity=1, at=OLD)  # older than event 10: never sent
    dead = receive(engine, 20, entity=2, at=OLD)
    attempt(engine, dead, OLD, DeliveryStatus.FAILED)
    fresh = receive(engine, 40, entity=4, at=RECENT)
    attempt(engine, fresh, RECENT, DeliveryStatus.SUCCEEDED)
    waiting = receive(engine, 30, entity=3, at=OLD)  # still owed to Violet, however old
    run(engine, OLD)
    run(engine, OLD, status="RUNNING")
    run(engine, RECENT)

    counted = retention.count(engine, now=NOW, days=30)
    pruned = retention.prune(engine, now=NOW, days=30)

    assert pruned == counted
    assert (pruned.deliveries, pruned.attempts, pruned.runs) == (2, 2, 1)
    deliveries, attempts, runs = remaining(engine)
    assert deliveries == [
        (dead, DeliveryStatus.FAILED),
        (fresh, DeliveryStatus.SUCCEEDED),
        (waiting, DeliveryStatus.PENDING),
    ]
    assert superseded not in dict(deliveries)
    assert attempts == [dead, fresh]
    assert runs == ["COMPLETED@11-30", "RUNNING@10-23"]
    assert retention.prune(engine, now=NOW, days=30).total == 0


def test_prune_goes_batch_by_batch_and_stops_between_batches(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each transaction deletes at most BATCH rows; a stop request ends the prune between two
    of them, leaving the rest for the next run."""
    monkeypatch.setattr(retention, "BATCH", 2)
    for event_id in range(1, 6):
        attempt(engine, receive(engine, event_id, entity=event_id, at=OLD), OLD, "SUCCEEDED")
    stop = threading.Event()
    stop.set()
    assert retention.prune(engine, now=NOW, days=30, stop=stop).deliveries == 0
    assert retention.prune(engine, now=NOW, days=30).deliveries == 5
    assert remaining(engine)[0] == []


def test_serve_job_prunes_and_counts_it(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The job `serve` schedules: its first run prunes and feeds `bridge_pruned_total`."""
    engine = make_engine(database_url)
    attempt(engine, receive(engine, 1, entity=1, at=OLD), OLD, "SUCCEEDED")
    metrics = Metrics()
    job = retention.RetentionJob(
        engine, days=30, clock=lambda: NOW, metrics=metrics, first_after_seconds=0
    )

    async def scenario() -> None:
        ran = asyncio.Event()
        real = job.run_once

        async def observed() -> retention.Pruned | None:
            try:
                return await real()
            finally:
                ran.set()

        monkeypatch.setattr(job, "run_once", observed)
        await job.start()
        try:
            await ran.wait()
        finally:
            await job.stop()

    try:
        asyncio.run(asyncio.wait_for(scenario(), timeout=10))
        assert remaining(engine)[0] == []
        assert b'bridge_pruned_total{kind="attempts"} 1.0' in metrics.render()
    finally:
        engine.dispose()


def test_cli_prune_dry_run_then_prune(tmp_path: Path) -> None:
    """`bridge events prune --dry-run` deletes nothing; `bridge events prune` does; a retention
    under the floor is refused with exit code 2."""
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    engine = make_engine(url)
    upgrade(engine)
    then = datetime.now(UTC) - timedelta(days=40)
    attempt(engine, receive(engine, 1, entity=1, at=then), then, "SUCCEEDED")
    engine.dispose()
    env = {"BRIDGE_DATABASE_URL": url}

    dry = run_bridge("events", "prune", "--dry-run", "--json", env=env)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["deliveries"] == 1
    done = run_bridge("events", "prune", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("deleted 1 deliveries, 1 attempts and 0 reconciliation runs")
    again = run_bridge("events", "prune", "--dry-run", "--json", env=env)
    assert json.loads(again.stdout)["deliveries"] == 0

    too_short = run_bridge("events", "prune", "--days", "1", env=env)
    assert too_short.returncode == 2
    setting = run_bridge("events", "prune", env={**env, "BRIDGE_RETENTION_DAYS": "1"})
    assert setting.returncode == 2
    assert "BRIDGE_RETENTION_DAYS" in setting.stderr
    assert setting.stderr.strip().count("\n") == 0
