"""The alert watch turns what it finds in the store, the breaker and the drift cache into alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from bridge.alerts import AlertWatch, Condition
from bridge.store.models import DeliveryStatus
from bridge.ui.drift import DriftCache
from tests.ui.factories import add_delivery, add_run

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


class RecordingAlerts:
    """Stands in for Alerts: keeps (condition, text) of every notify."""

    def __init__(self) -> None:
        self.sent: list[tuple[Condition, str]] = []

    def notify(self, condition: Condition, text: str) -> bool:
        self.sent.append((condition, text))
        return True

    def conditions(self) -> list[Condition]:
        return [condition for condition, _ in self.sent]


def make_watch(
    engine: Engine, alerts: RecordingAlerts, now: list[datetime], **kwargs: object
) -> AlertWatch:
    return AlertWatch(
        engine,
        alerts,  # type: ignore[arg-type]
        overrun_after_seconds=120,
        clock=lambda: now[0],
        **kwargs,  # type: ignore[arg-type]
    )


def test_first_scan_does_not_announce_history(engine: Engine) -> None:
    """Failures from before the watch started are not alerted (a restart is not news)."""
    add_delivery(engine, now=T0 - timedelta(minutes=1), status=DeliveryStatus.FAILED)
    add_run(engine, started=T0 - timedelta(minutes=1), status="FAILED", error="old")
    alerts, now = RecordingAlerts(), [T0]
    watch = make_watch(engine, alerts, now)
    watch.scan()
    now[0] += timedelta(seconds=10)
    watch.scan()
    assert alerts.conditions() == []


def test_new_dead_letters_are_alerted_once(engine: Engine) -> None:
    """A delivery dead-lettered after the start is announced by one scan, not by the next."""
    alerts, now = RecordingAlerts(), [T0]
    watch = make_watch(engine, alerts, now)
    watch.scan()
    now[0] += timedelta(seconds=10)
    failed = add_delivery(engine, now=now[0], status=DeliveryStatus.FAILED, status_code=400)
    watch.scan()
    now[0] += timedelta(seconds=10)
    watch.scan()
    assert alerts.conditions() == [Condition.DEAD_LETTERED]
    assert f"#{failed.id} (PURCHASE_ORDERS 42, HTTP 400)" in alerts.sent[0][1]


def test_failed_and_overrunning_runs_are_alerted(engine: Engine) -> None:
    """A failed run and a run running past the threshold each raise their condition once."""
    alerts, now = RecordingAlerts(), [T0]
    watch = make_watch(engine, alerts, now)
    watch.scan()
    add_run(engine, started=T0, status="FAILED", duration_ms=500, error="ION unavailable")
    add_run(engine, started=T0, status="RUNNING", duration_ms=None)
    now[0] += timedelta(seconds=60)
    watch.scan()
    assert alerts.conditions() == [Condition.RECONCILE_FAILED]
    now[0] += timedelta(seconds=90)  # the running one is now 150 s old, over 120 s
    watch.scan()
    watch.scan()
    assert alerts.conditions() == [Condition.RECONCILE_FAILED, Condition.RECONCILE_OVERRAN]
    assert "is still running 150 s" in alerts.sent[1][1]


def test_breaker_transitions_are_alerted(engine: Engine) -> None:
    """Opening and closing the breaker each send one alert; half-open alone sends none."""
    state = ["closed"]
    alerts, now = RecordingAlerts(), [T0]
    watch = make_watch(engine, alerts, now, breaker_state=lambda: state[0])
    watch.scan()
    for next_state in ("open", "open", "half_open", "closed"):
        state[0] = next_state
        watch.scan()
    assert alerts.conditions() == [Condition.BREAKER_OPENED, Condition.BREAKER_CLOSED]


def test_drift_found_is_alerted_once_per_report(engine: Engine) -> None:
    """A drift report with differences is announced once, however often it is scanned."""
    drift = DriftCache(lambda: ["subscription PARTS/UPDATE missing"], clock=lambda: T0)
    drift.refresh_now()
    alerts, now = RecordingAlerts(), [T0]
    watch = make_watch(engine, alerts, now, drift=drift)
    watch.scan()
    watch.scan()
    watch.scan()
    assert alerts.conditions() == [Condition.DRIFT_FOUND]
    assert "PARTS/UPDATE missing" in alerts.sent[0][1]
