"""The drift cache: page views never wait for ION, and failures are shown, not raised."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from bridge.ui.drift import DriftCache

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_first_view_starts_a_check_without_waiting() -> None:
    """Before any check the page gets None at once, and one background check runs."""
    release = threading.Event()
    calls: list[int] = []

    def slow_check() -> list[str]:
        calls.append(1)
        release.wait(10)
        return []

    cache = DriftCache(slow_check, clock=lambda: T0)
    assert cache.current() is None
    assert cache.current() is None  # a second view does not start a second check
    release.set()
    assert cache.wait_idle(10)
    assert len(calls) == 1
    report = cache.current()
    assert report is not None
    assert report.in_sync


def test_stale_report_is_refreshed_after_the_ttl() -> None:
    """A report older than the TTL is still shown while a new check runs."""
    now = [T0]
    answers = iter([["receiver URL differs"], []])
    cache = DriftCache(lambda: next(answers), ttl_seconds=60, clock=lambda: now[0])
    cache.refresh_now()
    now[0] = T0 + timedelta(seconds=61)
    stale = cache.current()
    assert stale is not None
    assert stale.differences == ("receiver URL differs",)
    assert cache.wait_idle(10)
    fresh = cache.current()
    assert fresh is not None
    assert fresh.in_sync
    assert fresh.checked_at == now[0]


def test_failed_check_becomes_a_report_with_the_error() -> None:
    """When ION cannot be asked, the report says why instead of raising into the page."""

    def broken() -> list[str]:
        raise ConnectionError("ION unreachable")

    report = DriftCache(broken, clock=lambda: T0).refresh_now()
    assert report.error == "ConnectionError: ION unreachable"
    assert not report.in_sync
