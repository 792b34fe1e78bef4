"""The last known provisioning drift (receiver and subscriptions in ION vs config), kept fresh.

Asking ION takes a token exchange and a few GraphQL round trips: far too slow, and too much load
on ION, for every page view. So the page shows the last answer with its age, and a view that finds
it older than the TTL starts one refresh on a background thread and does not wait for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from bridge.clock import utcnow

log = structlog.get_logger(__name__)


@dataclass(frozen=True, kw_only=True)
class DriftReport:
    """One comparison of ION's receiver/subscriptions with the configuration."""

    checked_at: datetime
    #: Human-readable differences; empty when ION matches the configuration.
    differences: tuple[str, ...] = ()
    #: Why the check could not be made (ION unreachable, credentials refused), if it failed.
    error: str | None = None

    @property
    def in_sync(self) -> bool:
        return self.error is None and not self.differences


#: What the provisioning code gives us: the differences, or an exception if ION could not say.
DriftCheck = Callable[[], Sequence[str]]


class DriftCache:
    """The newest DriftReport, refreshed in the background once it is older than `ttl_seconds`."""

    def __init__(
        self,
        check: DriftCheck,
        *,
        ttl_seconds: float = 300,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._check = check
        self._ttl = ttl_seconds
        self._clock = clock
        self._report: DriftReport | None = None
        self._refreshing: threading.Thread | None = None
        self._lock = threading.Lock()

    def current(self) -> DriftReport | None:
        """The last report (None before the first check finished); starts a refresh if stale."""
        with self._lock:
            report = self._report
            stale = report is None or (
                (self._clock() - report.checked_at).total_seconds() >= self._ttl
            )
            if stale and self._refreshing is None:
                self._refreshing = threading.Thread(
                    target=self._refresh, name="drift-refresh", daemon=True
                )
                self._refreshing.start()
        return report

    def refresh_now(self) -> DriftReport:
        """Check ION on this thread and keep the answer (the CLI and tests use this)."""
        try:
            report = DriftReport(checked_at=self._clock(), differences=tuple(self._check()))
        except Exception as exc:
            # Any failure of the check is shown on the page, never raised into a request.
            log.warning("drift.check_failed", error=type(exc).__name__)
            report = DriftReport(checked_at=self._clock(), error=_one_line(exc))
        with self._lock:
            self._report = report
        return report

    def wait_idle(self, timeout: float) -> bool:
        """Wait for a running background refresh; True when none is running any more."""
        thread = self._refreshing
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def _refresh(self) -> None:
        try:
            self.refresh_now()
        finally:
            with self._lock:
                self._refreshing = None


def _one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
