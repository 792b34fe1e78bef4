"""A circuit breaker for the one destination (Violet), pure: every method takes `now`.

    CLOSED ──(≥ ratio failures over ≥ min requests in the window)──▶ OPEN
    OPEN ──(open_seconds passed)──▶ HALF_OPEN: exactly one probe request may go
    HALF_OPEN ──probe succeeded──▶ CLOSED (window forgotten)
    HALF_OPEN ──probe failed──▶ OPEN again

While the breaker is not closed the worker claims nothing but the probe, so the deliveries
queued behind a Violet outage keep their retry budget instead of each burning attempts against
a receiver known to be down.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


#: Gauge values for the metrics (0 is the healthy state).
STATE_VALUES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


@dataclass(kw_only=True)
class Breaker:
    failure_ratio: float = 0.7
    min_requests: int = 10
    open_seconds: float = 30.0
    window_seconds: float = 60.0
    state: BreakerState = BreakerState.CLOSED
    opened_at: float | None = None
    probe_in_flight: bool = False
    _results: deque[tuple[float, bool]] = field(default_factory=deque, repr=False)
    #: Failures among `_results`, kept as they come and go: recording an answer costs the same
    #: however many requests the window holds (a full window at 1,000/s is 60,000 entries).
    _failures: int = field(default=0, repr=False)

    def allows(self, now: float) -> bool:
        """May an ordinary (non-probe) request go now?"""
        self._advance(now)
        return self.state is BreakerState.CLOSED

    def take_probe(self, now: float) -> bool:
        """Claim the single probe of a half-open breaker; True if the caller may send it."""
        self._advance(now)
        if self.state is not BreakerState.HALF_OPEN or self.probe_in_flight:
            return False
        self.probe_in_flight = True
        return True

    def cancel_probe(self) -> None:
        """The probe taken was not sent (nothing was due): the next one may go."""
        self.probe_in_flight = False

    def record(self, now: float, *, ok: bool, probe: bool = False) -> BreakerState:
        """Account for one finished request; returns the state afterwards."""
        if probe:
            self.probe_in_flight = False
            if ok:
                self._close()
            else:
                self._open(now)
            return self.state
        if self.state is not BreakerState.CLOSED:
            # A request sent before the breaker opened: its answer is old news.
            return self.state
        self._results.append((now, ok))
        self._failures += not ok
        self._forget(now)
        total = len(self._results)
        if total >= self.min_requests and self._failures / total >= self.failure_ratio:
            self._open(now)
        return self.state

    def retry_at(self) -> float | None:
        """When an open breaker lets the next probe through."""
        if self.state is BreakerState.OPEN and self.opened_at is not None:
            return self.opened_at + self.open_seconds
        return None

    def _advance(self, now: float) -> None:
        opened = self.opened_at
        if (
            self.state is BreakerState.OPEN
            and opened is not None
            and now >= opened + self.open_seconds
        ):
            self.state = BreakerState.HALF_OPEN

    def _open(self, now: float) -> None:
        self.state = BreakerState.OPEN
        self.opened_at = now
        self._results.clear()
        self._failures = 0

    def _close(self) -> None:
        self.state = BreakerState.CLOSED
        self.opened_at = None
        self._results.clear()
        self._failures = 0

    def _forget(self, now: float) -> None:
        while self._results and self._results[0][0] < now - self.window_seconds:
            _, ok = self._results.popleft()
            self._failures -= not ok
