"""Fault switches for the Violet stand-in: what the next webhook requests suffer.

Switched on over HTTP (`POST /_sandbox/faults`) so a test or a person at a terminal can make
Violet misbehave the way real receivers do: error statuses (optionally with `Retry-After`), slow
answers, and connections closed without an answer. Each POST sets only the keys it names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class FaultSpecError(ValueError):
    """A fault switch request names an unknown key or a value of the wrong type."""


@dataclass(frozen=True, kw_only=True)
class Decision:
    """What to do with one webhook request."""

    drop: bool = False
    status: int | None = None
    retry_after: float | None = None
    delay_seconds: float = 0.0

    @property
    def faulted(self) -> bool:
        """Dropped or answered with a fault status: such requests leave the view alone."""
        return self.drop or self.status is not None


_KEYS = {"status", "count", "retry_after", "delay_ms", "drop"}


@dataclass(kw_only=True)
class Faults:
    """The current switches. `count`/`drop` budgets shrink as requests consume them."""

    status: int | None = None
    count: int | None = None  # None with a status: until cleared
    retry_after: float | None = None
    delay_ms: int = 0
    drop: int = 0

    def update(self, spec: Mapping[str, Any]) -> None:
        """Set the switches named in `spec`; raise FaultSpecError on anything unexpected."""
        unknown = set(spec) - _KEYS
        if unknown:
            raise FaultSpecError(f"unknown fault keys: {sorted(unknown)}")
        if "status" in spec:
            self.status = _int(spec, "status", low=100, high=599)
            self.count = _int(spec, "count", low=0) if spec.get("count") is not None else None
        elif "count" in spec:
            self.count = _int(spec, "count", low=0)
        if "retry_after" in spec:
            value = spec["retry_after"]
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            if value is not None and not is_number:
                raise FaultSpecError("retry_after must be a number of seconds")
            self.retry_after = None if value is None else float(value)
        if "delay_ms" in spec:
            self.delay_ms = _int(spec, "delay_ms", low=0)
        if "drop" in spec:
            self.drop = _int(spec, "drop", low=0)

    def clear(self) -> None:
        """Back to a healthy Violet."""
        self.status = self.count = self.retry_after = None
        self.delay_ms = self.drop = 0

    def next_decision(self) -> Decision:
        """Consume the switches for one request; drops come before status faults."""
        delay = self.delay_ms / 1000
        if self.drop > 0:
            self.drop -= 1
            return Decision(drop=True, delay_seconds=delay)
        if self.status is not None and (self.count is None or self.count > 0):
            if self.count is not None:
                self.count -= 1
            return Decision(status=self.status, retry_after=self.retry_after, delay_seconds=delay)
        return Decision(delay_seconds=delay)

    def describe(self) -> dict[str, Any]:
        """The switches as JSON."""
        return {
            "status": self.status,
            "count": self.count,
            "retry_after": self.retry_after,
            "delay_ms": self.delay_ms,
            "drop": self.drop,
        }


def _int(spec: Mapping[str, Any], key: str, *, low: int, high: int | None = None) -> int:
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaultSpecError(f"{key} must be an integer")
    if value < low or (high is not None and value > high):
        raise FaultSpecError(f"{key} out of range: {value}")
    return value
