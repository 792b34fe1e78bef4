"""When to try a delivery again, and whether to try at all: pure functions of an attempt's result.

    classify(status)          -> Outcome: success | retry | fail | pause
    next_delay(...)           -> seconds until the next attempt, or None when the schedule is spent
    decide(...)               -> Decision: what becomes of the delivery after one attempt

Violet is assumed (violet.md) to answer 2xx on success, 429/5xx/timeouts when it is briefly
unwell and other 4xx when the request itself is wrong; 410 Gone means the URL was revoked, so
retrying each delivery would only dead-letter all of them: the destination is paused instead.
3xx is a failure: following a redirect would send the body to a URL nobody configured.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

from bridge.clock import as_utc
from bridge.store.models import DeliveryStatus

#: Answers that mean "try again later" rather than "this request is wrong".
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class Outcome(StrEnum):
    SUCCESS = "succeeded"
    RETRY = "retry"
    FAIL = "failed"
    PAUSE = "paused"
    #: A failed circuit-breaker probe: logged, but not counted against the delivery's schedule.
    PROBE = "probe"


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """The schedule and its bounds (all from settings)."""

    schedule: tuple[float, ...]
    jitter: float = 0.2
    retry_after_max: float = 3600.0
    #: Floor for 429 and timeouts: a receiver that says "too many" or is too slow needs air.
    min_backoff: float = 60.0


def classify(status: int | None) -> Outcome:
    """What an answer (or no answer: `status` None) means for the delivery."""
    if status is None:
        return Outcome.RETRY  # connection refused/reset, timeout: nothing was decided
    if 200 <= status < 300:
        return Outcome.SUCCESS
    if status == 410:
        return Outcome.PAUSE
    if status in TRANSIENT_STATUSES or status >= 500:
        return Outcome.RETRY
    return Outcome.FAIL


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait per a `Retry-After` value (delta-seconds or HTTP-date); None if unusable."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = (as_utc(when) - as_utc(now)).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN, inf
        return None
    return max(0.0, seconds)


def next_delay(
    attempts: int,
    policy: RetryPolicy,
    *,
    rng: random.Random,
    status: int | None = None,
    timed_out: bool = False,
    retry_after: float | None = None,
) -> float | None:
    """Seconds before retry number `attempts` (1 = the first retry); None once exhausted.

    The schedule's entry gets ±jitter so that deliveries failing together do not come back
    together; `Retry-After` (bounded) and the 429/timeout floor can only lengthen the wait.
    """
    if attempts < 1 or attempts > len(policy.schedule):
        return None
    base = policy.schedule[attempts - 1]
    delay = base * (1 + rng.uniform(-policy.jitter, policy.jitter)) if policy.jitter else base
    if status == 429 or timed_out:
        delay = max(delay, policy.min_backoff)
    if retry_after is not None:
        delay = max(delay, min(retry_after, policy.retry_after_max))
    return max(0.0, delay)


@dataclass(frozen=True, kw_only=True)
class Decision:
    """The result of one attempt: the log's outcome and the delivery's next state."""

    outcome: Outcome
    status: str  # DeliveryStatus
    attempts: int  # attempts counted against the schedule, after this one
    delay: float = 0.0  # seconds until the next attempt (PENDING only)
    exhausted: bool = False


def decide(
    *,
    attempts: int,
    status: int | None,
    policy: RetryPolicy,
    rng: random.Random,
    timed_out: bool = False,
    retry_after: float | None = None,
    probe: bool = False,
    probe_delay: float = 0.0,
) -> Decision:
    """What becomes of a delivery that had `attempts` before this one, given how it went.

    A 410 and a failed breaker probe do not count against the delivery: the first is the
    destination's fault (everything pauses), the second is the breaker testing the water.
    """
    outcome = classify(status)
    if outcome is Outcome.SUCCESS:
        return Decision(outcome=outcome, status=DeliveryStatus.SUCCEEDED, attempts=attempts + 1)
    if outcome is Outcome.FAIL:
        return Decision(outcome=outcome, status=DeliveryStatus.FAILED, attempts=attempts + 1)
    if outcome is Outcome.PAUSE:
        return Decision(outcome=outcome, status=DeliveryStatus.PENDING, attempts=attempts)
    if probe:
        wait = max(probe_delay, min(retry_after or 0.0, policy.retry_after_max))
        return Decision(
            outcome=Outcome.PROBE, status=DeliveryStatus.PENDING, attempts=attempts, delay=wait
        )
    delay = next_delay(
        attempts + 1,
        policy,
        rng=rng,
        status=status,
        timed_out=timed_out,
        retry_after=retry_after,
    )
    if delay is None:
        return Decision(
            outcome=Outcome.FAIL,
            status=DeliveryStatus.FAILED,
            attempts=attempts + 1,
            exhausted=True,
        )
    return Decision(
        outcome=Outcome.RETRY, status=DeliveryStatus.PENDING, attempts=attempts + 1, delay=delay
    )
