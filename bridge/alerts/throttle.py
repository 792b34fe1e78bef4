"""At most one alert per condition per interval: the rule, with no clock and no I/O.

A flapping breaker or a burst of dead letters must not flood the on-call channel, but nothing may
be lost silently either: the next message that is let through says how many were held back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Condition(StrEnum):
    """What an alert is about; each is throttled on its own."""

    DEAD_LETTERED = "delivery_dead_lettered"
    BREAKER_OPENED = "breaker_opened"
    BREAKER_CLOSED = "breaker_closed"
    RECONCILE_FAILED = "reconcile_failed"
    RECONCILE_OVERRAN = "reconcile_overran"
    DRIFT_FOUND = "provisioning_drift"


@dataclass(frozen=True, kw_only=True)
class Admission:
    """An alert that may go out, and how many of its kind were held back since the last one."""

    condition: Condition
    suppressed: int


@dataclass
class AlertThrottle:
    """Lets the first alert of a condition through, then holds the rest for `min_interval`."""

    min_interval: float
    _last_sent: dict[Condition, float] = field(default_factory=dict)
    _held: dict[Condition, int] = field(default_factory=dict)

    def admit(self, condition: Condition, now: float) -> Admission | None:
        """An Admission if an alert for `condition` may be sent at `now`, else None (counted)."""
        last = self._last_sent.get(condition)
        if last is not None and now - last < self.min_interval:
            self._held[condition] = self._held.get(condition, 0) + 1
            return None
        self._last_sent[condition] = now
        return Admission(condition=condition, suppressed=self._held.pop(condition, 0))
