"""Finds what deserves an alert by looking, not by being told.

Every few seconds one scan reads the dead letters and reconciliation runs that appeared since the
last scan, the breaker's state and the last drift report, and hands each finding to `Alerts`.
Looking instead of hooking keeps alerting out of the worker's and the reconciler's hot paths and
also catches what another process (a CLI `bridge reconcile`) wrote to the same database.

The first scan only sets the starting point: a restart must not re-announce yesterday's failures.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import col, or_, select

from bridge.alerts.sender import Alerts
from bridge.alerts.throttle import Condition
from bridge.clock import as_utc, utcnow
from bridge.store.db import session_scope
from bridge.store.models import Delivery, DeliveryStatus, ReconcileRun
from bridge.ui.drift import DriftCache

log = structlog.get_logger(__name__)
#: Rows are stamped by their writer's clock and committed a moment later: look back this far
#: so a row committed just after a scan is still seen by the next one (ids dedupe the overlap).
OVERLAP = timedelta(seconds=120)


class AlertWatch:
    """Scans for alert conditions; `start()` runs `scan()` every `interval` seconds."""

    def __init__(
        self,
        engine: Engine,
        alerts: Alerts,
        *,
        overrun_after_seconds: float,
        breaker_state: Callable[[], object] | None = None,
        drift: DriftCache | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._engine = engine
        self._alerts = alerts
        self._overrun = timedelta(seconds=overrun_after_seconds)
        self._breaker_state = breaker_state
        self._drift = drift
        self._clock = clock
        self._since: datetime | None = None
        self._seen: dict[str, datetime] = {}  # "delivery:12", "run:3", "overrun:3" -> when seen
        self._breaker: str | None = None
        self._drift_checked: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def scan(self) -> None:
        """Look once and notify about everything new."""
        now = self._clock()
        if self._since is None:
            # Only mark what is already there as seen: the start is the starting point.
            self._since = now
            self._breaker = self._current_breaker()
            self._scan_database(now, announce=False)
            return
        self._scan_database(now, announce=True)
        self._scan_breaker()
        self._scan_drift()
        self._since = now
        # Forget ids older than the overlap: they can no longer be returned by a query.
        self._seen = {k: t for k, t in self._seen.items() if t >= now - 2 * OVERLAP}

    def _new(self, key: str, now: datetime) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = now
        return True

    def _scan_database(self, now: datetime, *, announce: bool) -> None:
        assert self._since is not None
        after = self._since - OVERLAP
        with session_scope(self._engine) as session:
            dead = session.exec(
                select(Delivery)
                .where(Delivery.status == DeliveryStatus.FAILED)
                .where(col(Delivery.completed_at) >= after)
                .order_by(col(Delivery.id))
            ).all()
            runs = session.exec(
                select(ReconcileRun).where(
                    or_(
                        col(ReconcileRun.finished_at) >= after,
                        ReconcileRun.status == "RUNNING",
                    )
                )
            ).all()
        fresh = [d for d in dead if self._new(f"delivery:{d.id}", now)]
        if not announce:
            for run in runs:
                self._new(f"run:{run.id}", now)
                if _duration(run, now) > self._overrun:
                    self._new(f"overrun:{run.id}", now)
            return
        if fresh:
            self._alerts.notify(Condition.DEAD_LETTERED, _dead_letter_text(fresh))
        for run in runs:
            if run.status == "FAILED" and self._new(f"run:{run.id}", now):
                self._alerts.notify(
                    Condition.RECONCILE_FAILED,
                    f"Reconciliation run #{run.id} ({run.trigger}) failed: {run.error or '?'}",
                )
            took = _duration(run, now)
            if took > self._overrun and self._new(f"overrun:{run.id}", now):
                state = "is still running" if run.status == "RUNNING" else "took"
                self._alerts.notify(
                    Condition.RECONCILE_OVERRAN,
                    f"Reconciliation run #{run.id} {state} {took.total_seconds():.0f} s "
                    f"(alert threshold {self._overrun.total_seconds():.0f} s).",
                )

    def _current_breaker(self) -> str | None:
        if self._breaker_state is None:
            return None
        state = self._breaker_state()
        return str(getattr(state, "value", state))

    def _scan_breaker(self) -> None:
        state = self._current_breaker()
        previous, self._breaker = self._breaker, state
        if state == previous or state is None or previous is None:
            return
        if state == "open":
            self._alerts.notify(
                Condition.BREAKER_OPENED,
                "Violet is failing: the circuit breaker opened; deliveries wait in the queue.",
            )
        elif state == "closed":
            self._alerts.notify(
                Condition.BREAKER_CLOSED, "Violet is accepting deliveries again: breaker closed."
            )

    def _scan_drift(self) -> None:
        report = self._drift.current() if self._drift else None
        if report is None or report.checked_at == self._drift_checked:
            return
        self._drift_checked = report.checked_at
        if report.differences:
            listed = "; ".join(report.differences[:5])
            more = f" (+{len(report.differences) - 5} more)" if len(report.differences) > 5 else ""
            self._alerts.notify(
                Condition.DRIFT_FOUND,
                f"ION's webhooks differ from the configuration: {listed}{more}. "
                "Run `bridge setup` to repair.",
            )

    # -- the background loop ----------------------------------------------------------------
    def start(self, interval_seconds: float = 10.0) -> None:
        """Scan on a daemon thread every `interval_seconds` until `stop()`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, args=(interval_seconds,), name="alert-watch", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self, interval: float) -> None:
        while True:
            try:
                self.scan()
            except Exception as exc:
                # A database outage must not end alerting; the next scan tries again.
                log.warning("alert.scan_failed", error=type(exc).__name__)
            if self._stop.wait(interval):
                return


def _duration(run: ReconcileRun, now: datetime) -> timedelta:
    if run.duration_ms is not None:
        return timedelta(milliseconds=run.duration_ms)
    end = as_utc(run.finished_at) if run.finished_at else now
    return end - as_utc(run.started_at)


def _dead_letter_text(rows: list[Delivery]) -> str:
    def one(d: Delivery) -> str:
        what = " ".join(str(p) for p in (d.resource, d.entity_id) if p) or d.origin
        answer = f"HTTP {d.last_status_code}" if d.last_status_code else "no answer"
        return f"#{d.id} ({what}, {answer})"

    head = ", ".join(one(d) for d in rows[:5])
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    return (
        f"{len(rows)} delivery(ies) dead-lettered after their retries: {head}{more}. "
        "Resend from the status page or with `bridge events resend`."
    )
