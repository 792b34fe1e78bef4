"""The delivery worker: claims due deliveries and sends them to Violet, a few at a time.

One asyncio task per `serve` process runs the loop; each claimed delivery is sent by its own
task, at most `delivery_concurrency` at once. A finished send hands its result back to the loop,
which writes every result that finished meanwhile and claims more in one transaction
(`Ledger.exchange`): under load the worker commits in batches by itself, and the claim, an index
range scan that stops after `limit` heads, costs the same at any backlog. The loop wakes at once
when the inbox stores something or a send finishes (`wake()`), and otherwise every
`delivery_poll_seconds` for retries coming due, leases run out, or a pause lifted by another
process. Database access runs in worker threads.

The worker claims up to `delivery_concurrency` deliveries *ahead* of its free slots and keeps
them leased in memory (`_ready`): a send that finishes starts the next one at once, while the
exchange that records results and tops the reserve up runs meanwhile. Before, a freed slot
stayed empty for a whole exchange (several database round trips on PostgreSQL): forwarding from
a backlog ran at 0.6-0.7 of the rate it does now, with the same number of requests open to
Violet. Only heads of their objects are claimed, so the reserve never holds two events of one
object and order per object holds. When sending must stop (a pause, the breaker opening,
shutdown) the reserve is handed back in the next exchange, and a reserved delivery whose lease
could run out before its send ends is handed back instead of sent.

Nothing a delivery does can stop the loop: an unexpected error is logged, the delivery keeps its
lease until it expires and is then tried again, and other deliveries go on.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.engine import Engine

from bridge.clock import as_utc
from bridge.delivery import claims
from bridge.delivery.breaker import STATE_VALUES, Breaker, BreakerState
from bridge.delivery.claims import Outgoing
from bridge.delivery.config import WorkerConfig
from bridge.delivery.ledger import Ledger, Settlement
from bridge.delivery.schedule import Decision, Outcome, classify, decide, parse_retry_after
from bridge.delivery.sender import Response, VioletSender
from bridge.errors import StorageError
from bridge.hooks import Hook, HookRunner
from bridge.metrics import Metrics

log = structlog.get_logger(__name__)

#: Pauses between tries to write finished results while the database is away (seconds).
_RETRY_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)


def _error_text(response: Response, decision: Decision) -> str | None:
    error = response.error
    if (
        error is None
        and response.status_code is not None
        and decision.outcome is not Outcome.SUCCESS
    ):
        error = f"HTTP {response.status_code}"
    if decision.exhausted:
        error = f"{error}; retry schedule exhausted"
    return error


def new_owner() -> str:
    """A lease owner id unique to this process and worker."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    """Sends what the outbox holds; see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        sender: VioletSender,
        config: WorkerConfig,
        *,
        metrics: Metrics,
        clock: Callable[[], datetime],
        on_delivered: list[Hook[Outgoing]],
        hooks: HookRunner,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.sender = sender
        self.config = config
        self.metrics = metrics
        self.clock = clock
        self.on_delivered = on_delivered
        self.hooks = hooks
        self.rng = rng or random.Random()
        self.owner = new_owner()
        self.ledger = Ledger(
            engine,
            owner=self.owner,
            clock=clock,
            lease_seconds=config.lease_seconds,
            expired_every=config.poll_seconds,
        )
        self.breaker = Breaker(
            failure_ratio=config.breaker_failure_ratio,
            min_requests=config.breaker_min_requests,
            open_seconds=config.breaker_open_seconds,
            window_seconds=config.breaker_window_seconds,
        )
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._inflight: dict[int, asyncio.Task[None]] = {}
        #: Claimed ahead, not sent yet, oldest claim first: id → (delivery, monotonic claim
        #: time). A re-claim of the same id (its lease renewed) keeps its place.
        self._ready: dict[int, tuple[Outgoing, float]] = {}
        #: Claimed deliveries to hand back unsent in the next exchange.
        self._releasing: list[int] = []
        #: How long a claimed delivery may wait in `_ready` and still be sent: its send may take
        #: `timeout_seconds`, and its result must be written while the lease still holds.
        self._fresh_seconds = (config.lease_seconds - config.timeout_seconds) / 2
        self._paused = False
        self._paused_checked = float("-inf")
        #: Sends that are over, waiting to be written by the loop's next exchange.
        self._finished: list[_Finished] = []
        #: Consecutive failed writes of finished results (the database is away).
        self._write_failures = 0
        #: A 410 came back and its pause is not written yet: claim nothing meanwhile.
        self._pausing = False
        #: The breaker just closed: make waiting retries due in the next exchange.
        self._expedite = False

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def wake(self, *, pause_may_have_lifted: bool = True) -> None:
        """Look for work now: something was stored, or (an operator's resend or resume) a pause
        may have been lifted. The inbox wakes the worker after every commit and says it was not
        the latter: while paused, re-reading the pause each time cost 8 % of the inbox's CPU."""
        if self._paused and pause_may_have_lifted:
            self._paused_checked = float("-inf")
        self._wake.set()

    async def start(self) -> None:
        if not self.alive:
            self._stopping = False
            await self.sender.start()
            self._task = asyncio.create_task(self._run(), name="delivery-worker")

    async def stop(self) -> None:
        """Claim nothing more; let in-flight sends finish within the grace, write their
        results, release the rest."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._inflight:
            _, pending = await asyncio.wait(
                set(self._inflight.values()), timeout=self.config.shutdown_grace_seconds
            )
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._write_finished()
        # Everything still leased to this worker goes back: the reserve and what a cancelled
        # send held.
        self._ready.clear()
        self._releasing.clear()
        try:
            released = await self.ledger.release()
        except StorageError as exc:
            log.warning("delivery.release_failed", error=str(exc))
        else:
            if released:
                log.info("delivery.released_on_shutdown", count=released)
        await self.sender.close()

    async def _write_finished(self) -> None:
        """Write the results still held, retrying through a brief outage; what cannot be
        written is sent again once its lease runs out (at least once, never lost)."""
        for delay in (*_RETRY_DELAYS, None):
            if not self._finished:
                return
            finished, self._finished = self._finished, []
            try:
                exchange = await self.ledger.exchange(
                    [item.settlement for item in finished], limit=0
                )
            except StorageError as exc:
                self._finished = finished
                log.warning("delivery.write_retry", error=str(exc), pending=len(finished))
                if delay is not None:
                    await asyncio.sleep(delay)
                continue
            for item, kept in zip(finished, exchange.kept, strict=True):
                self._settled(item, kept)
        if self._finished:
            log.error("delivery.results_unwritten", count=len(self._finished))

    # -- the loop -------------------------------------------------------------------------
    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                more = await self._tick()
            except Exception:
                log.exception("delivery.loop_error")
                more = False
            if more:
                continue
            with suppress(TimeoutError):
                async with asyncio.timeout(self._idle_seconds()):
                    await self._wake.wait()

    def _idle_seconds(self) -> float:
        """How long to wait for a wake-up: the poll interval, or a back-off while the database
        refuses the results of finished sends."""
        if self._write_failures and self._finished:
            step = _RETRY_DELAYS[min(self._write_failures, len(_RETRY_DELAYS)) - 1]
            return min(step, self.config.poll_seconds)
        return self.config.poll_seconds

    async def _tick(self) -> bool:
        """Record what finished, hand back what may not be sent, claim what may go now; True
        when there may be more to do at once (the claim filled every place it asked for)."""
        paused = await self._is_paused()
        now = time.monotonic()
        blocked = paused or self._pausing
        allowed = not blocked and self.breaker.allows(now)
        if allowed:
            self._start_ready()
        else:
            self._hand_back_ready()
        free = self.config.concurrency - len(self._inflight)
        room = free + self.config.concurrency - len(self._ready)
        probe = False
        limit = 0
        if free > 0 and not blocked:
            if allowed:
                limit = room
            elif self.breaker.take_probe(now):
                limit, probe = 1, True
        if not limit and not self._finished and not self._releasing:
            return False
        finished, self._finished = self._finished, []
        releasing, self._releasing = self._releasing, []
        expedite = self._expedite
        try:
            exchange = await self.ledger.exchange(
                [item.settlement for item in finished],
                limit=limit,
                expedite=expedite,
                release=releasing,
            )
        except StorageError as exc:
            # Nothing was written: keep the results (sending them again would duplicate) and
            # try again after a pause; the leases outlast any brief outage.
            self._finished = finished + self._finished
            self._releasing = releasing + self._releasing
            self._write_failures += 1
            log.warning("delivery.write_retry", error=str(exc), pending=len(self._finished))
            if probe:
                self.breaker.cancel_probe()
            return False
        self._write_failures = 0
        if expedite:
            self._expedite = False
            log.info("delivery.retries_expedited", count=exchange.expedited)
        for item, kept in zip(finished, exchange.kept, strict=True):
            self._settled(item, kept)
        if probe:
            if not exchange.claimed:
                self.breaker.cancel_probe()
            for delivery in exchange.claimed:
                self._send(delivery, probe=True)
            return False
        claimed_at = time.monotonic()
        for delivery in exchange.claimed:
            self._ready[delivery.id] = (delivery, claimed_at)
        self._start_ready()
        return bool(exchange.claimed) and len(exchange.claimed) == limit

    def _start_ready(self) -> None:
        """Fill the free slots from the reserve, oldest claim first, if sending may go on."""
        if self._stopping or self._paused or self._pausing or not self._ready:
            return
        now = time.monotonic()
        if not self.breaker.allows(now):
            return
        while self._ready and len(self._inflight) < self.config.concurrency:
            delivery_id = next(iter(self._ready))
            delivery, claimed_at = self._ready.pop(delivery_id)
            if now - claimed_at > self._fresh_seconds:
                self._releasing.append(delivery_id)  # its lease could run out mid-send
                continue
            self._send(delivery, probe=False)

    def _hand_back_ready(self) -> None:
        """Sending must stop for now: the reserve goes back in the next exchange."""
        if self._ready:
            self._releasing.extend(self._ready)
            self._ready.clear()

    def _send(self, delivery: Outgoing, *, probe: bool) -> None:
        self._inflight[delivery.id] = asyncio.create_task(
            self._deliver(delivery, probe=probe), name=f"deliver-{delivery.id}"
        )

    async def _is_paused(self) -> bool:
        if time.monotonic() - self._paused_checked >= self.config.poll_seconds:
            try:
                state = await self.ledger.paused()
            except StorageError:
                return self._paused
            self._paused = state is not None
            self._paused_checked = time.monotonic()
            self.metrics.paused.set(1 if self._paused else 0)
        return self._paused

    # -- one delivery ---------------------------------------------------------------------
    async def _deliver(self, delivery: Outgoing, *, probe: bool) -> None:
        """Send one delivery and queue its result for the loop's next write."""
        try:
            response = await self.sender.send(delivery, now=self.clock())
            decision = decide(
                attempts=delivery.attempts,
                status=response.status_code,
                policy=self.config.policy,
                rng=self.rng,
                timed_out=response.timed_out,
                retry_after=parse_retry_after(response.retry_after, self.clock()),
                probe=probe,
                probe_delay=self.config.breaker_open_seconds,
            )
            self._record_health(delivery, response, probe=probe)
            if decision.outcome is Outcome.PAUSE:
                self._pausing = True  # claim nothing more until the pause is written
            self._finished.append(
                _Finished(
                    settlement=Settlement(
                        delivery=delivery,
                        result=self._result(response, decision),
                    ),
                    response=response,
                    decision=decision,
                )
            )
        except Exception:
            if probe:
                self.breaker.cancel_probe()
            log.exception("delivery.unexpected_error", delivery_id=delivery.id)
        finally:
            self._inflight.pop(delivery.id, None)
            self._start_ready()  # the freed slot goes to the reserve's next at once
            self._wake.set()

    def _result(self, response: Response, decision: Decision) -> claims.AttemptResult:
        return claims.AttemptResult(
            started_at=response.started_at,
            duration_ms=response.duration_ms,
            outcome=decision.outcome.value,
            status=decision.status,
            attempts=decision.attempts,
            next_attempt_at=self.clock() + timedelta(seconds=decision.delay),
            status_code=response.status_code,
            response_body=response.body,
            error=_error_text(response, decision),
        )

    def _record_health(self, delivery: Outgoing, response: Response, *, probe: bool) -> None:
        """Feed the circuit breaker as soon as Violet answers (or does not)."""
        before = self.breaker.state
        healthy = classify(response.status_code) is not Outcome.RETRY
        after = self.breaker.record(time.monotonic(), ok=healthy, probe=probe)
        self.metrics.breaker.set(STATE_VALUES[after])
        if after is not before:
            log.warning("delivery.breaker_" + after.value, **_fields(delivery))
            if after is BreakerState.CLOSED:
                self._expedite = True

    def _settled(self, item: _Finished, kept: bool) -> None:
        """After the attempt is committed: metrics, the log line, hooks, a pause."""
        delivery, result = item.settlement.delivery, item.settlement.result
        response, decision = item.response, item.decision
        self.metrics.attempts.labels(decision.outcome.value).inc()
        self.metrics.attempt_seconds.observe(response.duration_ms / 1000)
        fields = _fields(delivery)
        # One line per attempt, whatever its outcome: the log is the delivery log's twin.
        log.info(
            "delivery.attempt",
            outcome=decision.outcome.value,
            status_code=response.status_code,
            duration_ms=round(response.duration_ms, 1),
            error=response.error,
            attempts=decision.attempts,
            next_in_s=round(decision.delay, 3) if decision.status == "PENDING" else None,
            **fields,
        )
        if not kept:
            log.warning("delivery.lease_lost", **fields)
        if decision.outcome is Outcome.SUCCESS:
            now = self.clock()
            self.metrics.latency.observe((now - as_utc(delivery.received_at)).total_seconds())
            delivery.status, delivery.attempts = decision.status, decision.attempts
            delivery.completed_at, delivery.last_status_code = now, response.status_code
            self.hooks.fire(self.on_delivered, delivery, name="on_delivered")
        elif decision.outcome is Outcome.PAUSE:
            self._pausing = False
            if kept:
                self._paused = True
                self._paused_checked = time.monotonic()
                self.metrics.paused.set(1)
            log.error(
                "delivery.destination_paused",
                reason="Violet answered 410 Gone: the webhook URL was revoked; nothing more is "
                "sent until `bridge events resume` (or a resend)",
                **fields,
            )
        elif result.status == "FAILED":
            log.warning("delivery.dead_lettered", exhausted=decision.exhausted, **fields)


@dataclass(frozen=True, kw_only=True)
class _Finished:
    """A send that is over, waiting for the loop to write its result."""

    settlement: Settlement
    response: Response
    decision: Decision


def _fields(delivery: Outgoing) -> dict[str, object]:
    return {
        "delivery_id": delivery.id,
        "event_id": delivery.event_id,
        "resource": delivery.resource,
        "entity_id": delivery.entity_id,
        "origin": delivery.origin,
    }
