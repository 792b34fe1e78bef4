"""The circuit breaker: opening on a failure ratio, probing, closing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.delivery.breaker import Breaker, BreakerState


def breaker() -> Breaker:
    return Breaker(failure_ratio=0.7, min_requests=10, open_seconds=30, window_seconds=60)


def test_stays_closed_below_the_minimum_number_of_requests() -> None:
    """Nine failures out of nine are not yet enough evidence."""
    b = breaker()
    for i in range(9):
        b.record(float(i), ok=False)
    assert b.state is BreakerState.CLOSED
    assert b.allows(10)


def test_opens_at_the_ratio_and_blocks_ordinary_requests() -> None:
    """Seven failures in ten requests open it; nothing but a probe may go for open_seconds."""
    b = breaker()
    for i in range(3):
        b.record(float(i), ok=True)
    for i in range(7):
        b.record(float(3 + i), ok=False)
    assert b.state is BreakerState.OPEN
    assert not b.allows(20)
    assert not b.take_probe(20)
    assert b.retry_at() == 9 + 30


def test_below_the_ratio_stays_closed() -> None:
    """Six failures in ten is below 70 %."""
    b = breaker()
    for i in range(4):
        b.record(float(i), ok=True)
    for i in range(6):
        b.record(float(4 + i), ok=False)
    assert b.state is BreakerState.CLOSED


def test_old_results_leave_the_window() -> None:
    """Failures older than the window are forgotten."""
    b = breaker()
    for i in range(7):
        b.record(float(i), ok=False)
    for i in range(3):
        b.record(100.0 + i, ok=True)
    assert b.state is BreakerState.CLOSED


def test_one_probe_at_a_time_then_close_on_success() -> None:
    """Half-open lets exactly one probe through; its success closes the breaker."""
    b = breaker()
    for i in range(10):
        b.record(float(i), ok=False)
    assert b.take_probe(40)
    assert b.state is BreakerState.HALF_OPEN
    assert not b.take_probe(40)
    assert not b.allows(40)
    assert b.record(41, ok=True, probe=True) is BreakerState.CLOSED
    assert b.allows(41)


def test_failed_probe_reopens_for_another_period() -> None:
    """A failed probe opens the breaker again from the probe's time."""
    b = breaker()
    for i in range(10):
        b.record(float(i), ok=False)
    assert b.take_probe(40)
    assert b.record(41, ok=False, probe=True) is BreakerState.OPEN
    assert not b.take_probe(60)
    assert b.take_probe(71)


def test_cancelled_probe_frees_the_slot() -> None:
    """A probe taken with nothing to send can be given back."""
    b = breaker()
    for i in range(10):
        b.record(float(i), ok=False)
    assert b.take_probe(40)
    b.cancel_probe()
    assert b.take_probe(40)


def test_late_answers_while_open_are_ignored() -> None:
    """Answers to requests sent before the breaker opened do not change it."""
    b = breaker()
    for i in range(10):
        b.record(float(i), ok=False)
    assert b.record(11, ok=True) is BreakerState.OPEN


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(min_value=0, max_value=5, allow_nan=False), st.booleans()),
        max_size=120,
    )
)
def test_the_running_failure_count_matches_a_recount(answers: list[tuple[float, bool]]) -> None:
    """The breaker keeps its failure count as answers come and leave the window (O(1) per
    answer); it always opens exactly when a recount of the window says it should."""
    b = Breaker(failure_ratio=0.5, min_requests=4, open_seconds=1e9, window_seconds=10)
    window: list[tuple[float, bool]] = []
    now = 0.0
    for step, ok in answers:
        now += step
        b.record(now, ok=ok)
        window = [(t, good) for t, good in [*window, (now, ok)] if t >= now - 10]
        failures = sum(1 for _, good in window if not good)
        should_open = len(window) >= 4 and failures / len(window) >= 0.5
        assert (b.state is BreakerState.OPEN) == should_open
        if should_open:
            return
