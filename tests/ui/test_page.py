"""What the status page reads from the store, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine

from bridge.store.db import session_scope
from bridge.store.models import DeliveryStatus
from bridge.ui import queries
from bridge.ui.chart import ChartWindow
from bridge.ui.drift import DriftCache
from bridge.ui.page import Sources, age, collect
from tests.ui.conftest import NOW
from tests.ui.factories import add_delivery, add_run


def test_queue_counts_open_deliveries_and_oldest_age(engine: Engine) -> None:
    """Depth counts PENDING and SENDING; the age is the oldest open delivery's."""
    add_delivery(engine, now=NOW, status=DeliveryStatus.PENDING, received_ago=90)
    add_delivery(engine, now=NOW, status=DeliveryStatus.SENDING, received_ago=30)
    add_delivery(engine, now=NOW, status=DeliveryStatus.SUCCEEDED, received_ago=900)
    add_delivery(engine, now=NOW, status=DeliveryStatus.FAILED, received_ago=600)
    with session_scope(engine) as session:
        queue = queries.queue(session, NOW)
    assert (queue.depth, queue.failed) == (2, 1)
    assert queue.oldest_pending_age == 90


def test_destination_health_from_attempts(engine: Engine) -> None:
    """Last success and last error come from the newest attempts of each kind."""
    add_delivery(engine, now=NOW, attempts=[(300, "succeeded", 200, "ok"), (60, "retry", 503, "")])
    with session_scope(engine) as session:
        health = queries.destination(session)
    assert health.last_success == NOW - timedelta(seconds=300)
    assert health.last_error_at == NOW - timedelta(seconds=60)
    assert health.last_error == "HTTP 503"


def test_failures_show_response_and_resend_outcome(engine: Engine) -> None:
    """A dead letter lists Violet's last answer and the status of its newest resend."""
    failed = add_delivery(
        engine,
        now=NOW,
        status=DeliveryStatus.FAILED,
        status_code=400,
        attempts=[(120, "retry", 500, "oops"), (60, "failed", 400, "missing field: id")],
    )
    add_delivery(engine, now=NOW, status=DeliveryStatus.SUCCEEDED, resend_of=failed.webhook_id)
    with session_scope(engine) as session:
        [row] = queries.failures(session)
    assert row.id == failed.id
    assert row.response == "missing field: id"
    assert row.status_code == 400
    assert row.resent_status == DeliveryStatus.SUCCEEDED


def test_per_minute_groups_attempts_by_minute_and_outcome(engine: Engine) -> None:
    """The database counts attempts per UTC minute and outcome inside the window only."""
    minute_start = NOW.replace(second=0, microsecond=0)
    ago = (NOW - minute_start).total_seconds()
    add_delivery(
        engine,
        now=NOW,
        attempts=[
            (ago, "succeeded", 200, None),
            (ago - 1, "succeeded", 200, None),
            (ago + 30, "retry", 503, None),  # the minute before
            (4 * 3600, "succeeded", 200, None),  # outside a 3-hour window
        ],
    )
    with session_scope(engine) as session:
        counts = queries.per_minute(session, ChartWindow(end=NOW, minutes=180))
    assert counts == {("2026-11-22 10:15", "succeeded"): 2, ("2026-11-22 10:14", "retry"): 1}


def test_runs_newest_first_with_counts(engine: Engine) -> None:
    """Reconciliation runs come newest first with their counts and errors."""
    add_run(engine, started=NOW - timedelta(minutes=2), counts={"fetched": 10, "repairs": 2})
    add_run(engine, started=NOW - timedelta(minutes=1), status="FAILED", error="ION unavailable")
    with session_scope(engine) as session:
        newest, older = queries.runs(session)
    assert (newest.status, newest.error) == ("FAILED", "ION unavailable")
    assert older.counts == {"fetched": 10, "repairs": 2}


def test_page_is_healthy_only_when_nothing_needs_attention(engine: Engine) -> None:
    """An open breaker or a dead letter turns the page's headline to 'needs attention'."""
    assert collect(
        Sources(engine=engine, clock=lambda: NOW, breaker_state=lambda: "closed")
    ).healthy
    assert not collect(
        Sources(engine=engine, clock=lambda: NOW, breaker_state=lambda: "open")
    ).healthy
    add_delivery(engine, now=NOW, status=DeliveryStatus.FAILED)
    assert not collect(Sources(engine=engine, clock=lambda: NOW)).healthy


def test_drift_is_shown_from_the_cache(engine: Engine) -> None:
    """The page shows the drift cache's last report; drift makes the page unhealthy."""
    cache = DriftCache(lambda: ["subscription PARTS/UPDATE missing"], clock=lambda: NOW)
    cache.refresh_now()
    page = collect(Sources(engine=engine, clock=lambda: NOW, drift=cache))
    assert page.drift is not None
    assert page.drift.differences == ("subscription PARTS/UPDATE missing",)
    assert not page.healthy


def test_age_reads_like_a_person_would_say_it() -> None:
    """Durations are rounded to the unit a reader needs."""
    assert [age(None), age(42), age(7 * 60), age(3 * 3600 + 5 * 60)] == [
        "–",
        "42 s",
        "7 min",
        "3 h 5 min",
    ]
