"""The retry schedule: classification of answers, jitter, Retry-After, floors, exhaustion."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from bridge.delivery.schedule import (
    Outcome,
    RetryPolicy,
    classify,
    decide,
    next_delay,
    parse_retry_after,
)
from bridge.store.models import DeliveryStatus

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
POLICY = RetryPolicy(schedule=(5, 30, 120), jitter=0.2, retry_after_max=600, min_backoff=60)
FLAT = RetryPolicy(schedule=(5, 30, 120), jitter=0.0, retry_after_max=600, min_backoff=60)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.SUCCESS),
        (204, Outcome.SUCCESS),
        (301, Outcome.FAIL),
        (400, Outcome.FAIL),
        (404, Outcome.FAIL),
        (408, Outcome.RETRY),
        (410, Outcome.PAUSE),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
        (599, Outcome.RETRY),
        (None, Outcome.RETRY),
    ],
)
def test_classify(status: int | None, outcome: Outcome) -> None:
    """2xx succeed, 410 pauses, 408/429/5xx/no answer retry, 3xx and other 4xx fail."""
    assert classify(status) is outcome


def test_jitter_stays_within_bounds_and_varies() -> None:
    """Each delay is the schedule's entry ±20 %, and not always the same."""
    rng = random.Random(1)
    delays = [next_delay(2, POLICY, rng=rng) for _ in range(200)]
    assert all(d is not None and 24 <= d <= 36 for d in delays)
    assert len(set(delays)) > 100


def test_schedule_runs_out() -> None:
    """After the last entry there is no further retry."""
    rng = random.Random(0)
    assert next_delay(3, FLAT, rng=rng) == 120
    assert next_delay(4, FLAT, rng=rng) is None
    assert next_delay(0, FLAT, rng=rng) is None


def test_429_and_timeouts_wait_at_least_the_floor() -> None:
    """A 429 or a timeout backs off at least min_backoff even early in the schedule."""
    rng = random.Random(0)
    assert next_delay(1, FLAT, rng=rng, status=429) == 60
    assert next_delay(1, FLAT, rng=rng, timed_out=True) == 60
    assert next_delay(3, FLAT, rng=rng, status=429) == 120
    assert next_delay(1, FLAT, rng=rng, status=503) == 5


def test_retry_after_lengthens_but_is_capped() -> None:
    """Retry-After is honoured when longer than the schedule, up to retry_after_max."""
    rng = random.Random(0)
    assert next_delay(1, FLAT, rng=rng, retry_after=40) == 40
    assert next_delay(2, FLAT, rng=rng, retry_after=3) == 30
    assert next_delay(1, FLAT, rng=rng, retry_after=10_000) == 600


def test_parse_retry_after_forms() -> None:
    """Delta-seconds and HTTP-dates are understood; junk is ignored."""
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after(" 1.5 ", NOW) == 1.5
    assert parse_retry_after("-3", NOW) == 0
    later = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, NOW) == pytest.approx(90)
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after("nan", NOW) is None
    assert parse_retry_after("", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_decide_counts_attempts_and_dead_letters_when_exhausted() -> None:
    """Each transient failure spends one attempt; the last one fails the delivery."""
    rng = random.Random(0)
    first = decide(attempts=0, status=503, policy=FLAT, rng=rng)
    assert (first.outcome, first.status, first.attempts, first.delay) == (
        Outcome.RETRY,
        DeliveryStatus.PENDING,
        1,
        5,
    )
    last = decide(attempts=3, status=503, policy=FLAT, rng=rng)
    assert (last.outcome, last.status, last.attempts, last.exhausted) == (
        Outcome.FAIL,
        DeliveryStatus.FAILED,
        4,
        True,
    )


def test_decide_permanent_pause_and_success() -> None:
    """400 fails at once, 410 pauses without spending an attempt, 200 succeeds."""
    rng = random.Random(0)
    assert decide(attempts=0, status=400, policy=FLAT, rng=rng).status == DeliveryStatus.FAILED
    paused = decide(attempts=2, status=410, policy=FLAT, rng=rng)
    assert (paused.outcome, paused.status, paused.attempts) == (
        Outcome.PAUSE,
        DeliveryStatus.PENDING,
        2,
    )
    ok = decide(attempts=1, status=200, policy=FLAT, rng=rng)
    assert (ok.status, ok.attempts) == (DeliveryStatus.SUCCEEDED, 2)


def test_failed_probe_does_not_spend_an_attempt() -> None:
    """A breaker probe that fails leaves the delivery's schedule where it was."""
    rng = random.Random(0)
    probe = decide(
        attempts=1, status=503, policy=FLAT, rng=rng, probe=True, probe_delay=30, retry_after=45
    )
    assert (probe.outcome, probe.attempts, probe.delay) == (Outcome.PROBE, 1, 45)
