"""Everything the status page shows, gathered into one value the template renders.

The sources are passed in explicitly (the database engine, the breaker's state, the drift cache)
so the composition root decides what is real and a test can hand in stand-ins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine

from bridge.clock import utcnow
from bridge.store.db import session_scope
from bridge.ui import queries
from bridge.ui.chart import ChartWindow, legend, render_chart
from bridge.ui.drift import DriftCache, DriftReport


@dataclass(frozen=True, kw_only=True)
class Sources:
    """Where the page's facts come from."""

    engine: Engine
    #: The Violet breaker's state ("closed", "open", "half_open"); None when not running here.
    breaker_state: Callable[[], str] | None = None
    drift: DriftCache | None = None
    clock: Callable[[], datetime] = utcnow
    chart_minutes: int = 180


@dataclass(frozen=True, kw_only=True)
class StatusPage:
    now: datetime
    breaker: str | None
    destination: queries.Destination
    queue: queries.Queue
    failures: list[queries.Failure]
    runs: list[queries.Run]
    chart_svg: str
    chart_minutes: int
    legend: list[tuple[str, str]] = field(default_factory=list)
    drift: DriftReport | None = None
    drift_enabled: bool = False

    @property
    def healthy(self) -> bool:
        """Green at a glance: breaker closed, nothing dead-lettered, ION matching the config."""
        drift_ok = self.drift is None or self.drift.in_sync
        return self.breaker in (None, "closed") and self.queue.failed == 0 and drift_ok


def collect(sources: Sources) -> StatusPage:
    """Read every fact of the page now (blocking: run it off the event loop)."""
    now = sources.clock()
    window = ChartWindow(end=now, minutes=sources.chart_minutes)
    with session_scope(sources.engine) as session:
        destination = queries.destination(session)
        queue = queries.queue(session, now)
        failures = queries.failures(session)
        runs = queries.runs(session)
        counts = queries.per_minute(session, window)
    return StatusPage(
        now=now,
        breaker=_breaker(sources),
        destination=destination,
        queue=queue,
        failures=failures,
        runs=runs,
        chart_svg=render_chart(counts, window),
        chart_minutes=sources.chart_minutes,
        legend=legend(),
        drift=sources.drift.current() if sources.drift else None,
        drift_enabled=sources.drift is not None,
    )


def _breaker(sources: Sources) -> str | None:
    if sources.breaker_state is None:
        return None
    state = sources.breaker_state()
    # Enum members (BreakerState) render by value, plain strings as they are.
    return str(getattr(state, "value", state))


def age(seconds: float | None) -> str:
    """A duration as an on-call engineer reads it: '42 s', '7 min', '3 h 5 min'."""
    if seconds is None:
        return "–"
    seconds = max(seconds, 0)
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def since(moment: datetime | None, now: datetime) -> str:
    """'3 min ago', or '–' for never."""
    if moment is None:
        return "–"
    return f"{age((now - moment).total_seconds())} ago"
