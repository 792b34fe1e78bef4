"""The delivery worker: claims due deliveries and sends them to Violet, a few at a time.

One asyncio task per `serve` process runs the loop; each claimed delivery is sent by its own
task, at most `delivery_concurrency` at once. The loop wakes at once when the inbox stores
something (`wake()`), and otherwise every `delivery_poll_seconds` for retries coming due, leases
run out, or a pause lifted by another process. Database access runs in worker threads.

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
from datetime import datetime, timedelta

import httpx
import structlog
from sqlalchemy.engine import Engine

from bridge.clock import as_utc
from bridge.delivery import claims
from bridge.delivery.breaker import STATE_VALUES, Breaker, BreakerState
from bridge.delivery.config import WorkerConfig
from bridge.delivery.ledger import Ledger
from bridge.delivery.schedule import Decision, Outcome, classify, decide, parse_retry_after
from bridge.delivery.sender import Response, send
from bridge.errors import StorageError
from bridge.hooks import Hook, HookRunner
from bridge.metrics import Metrics
from bridge.store.models import Delivery

log = structlog.get_logger(__name__)


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
        client: httpx.AsyncClient,
        config: WorkerConfig,
        *,
        metrics: Metrics,
        clock: Callable[[], datetime],
        on_delivered: list[Hook[Delivery]],
        hooks: HookRunner,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.client = client
        self.config = config
        self.metrics = metrics
        self.clock = clock
        self.on_delivered = on_delivered
        self.hooks = hooks
        self.rng = rng or random.Random()
        self.owner = new_owner()
        self.ledger = Ledger(
            engine, owner=self.owner, clock=clock, lease_seconds=config.lease_seconds
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
        self._paused = False
        self._paused_checked = float("-inf")

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def wake(self) -> None:
        """Look for work now (something was just stored, or a pause may have been lifted)."""
        if self._paused:
            self._paused_checked = float("-inf")
        self._wake.set()

    async def start(self) -> None:
        if not self.alive:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="delivery-worker")

    async def stop(self) -> None:
        """Claim nothing more; let in-flight sends finish within the grace, release the rest."""
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
        try:
            released = await self.ledger.release()
        except StorageError as exc:
            log.warning("delivery.release_failed", error=str(exc))
        else:
            if released:
                log.info("delivery.released_on_shutdown", count=released)

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
                async with asyncio.timeout(self.config.poll_seconds):
                    await self._wake.wait()

    async def _tick(self) -> bool:
        """Claim and start what may go now; True when every free slot was filled."""
        free = self.config.concurrency - len(self._inflight)
        if free <= 0 or await self._is_paused():
            return False
        now = time.monotonic()
        probe = False
        if self.breaker.allows(now):
            limit = free
        elif self.breaker.take_probe(now):
            limit, probe = 1, True
        else:
            return False
        try:
            claimed = await self.ledger.claim(limit)
        except StorageError as exc:
            log.warning("delivery.claim_failed", error=str(exc))
            claimed = []
        if probe and not claimed:
            self.breaker.cancel_probe()
        for delivery in claimed:
            if delivery.id is None:
                continue
            self._inflight[delivery.id] = asyncio.create_task(
                self._deliver(delivery, probe=probe), name=f"deliver-{delivery.id}"
            )
        return bool(claimed) and len(claimed) == limit and not probe

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
    async def _deliver(self, delivery: Delivery, *, probe: bool) -> None:
        try:
            response = await send(self.client, self.config, delivery, now=self.clock())
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
            await self._settle(delivery, response, decision, probe=probe)
        except Exception:
            if probe:
                self.breaker.cancel_probe()
            log.exception("delivery.unexpected_error", delivery_id=delivery.id)
        finally:
            if delivery.id is not None:
                self._inflight.pop(delivery.id, None)
            self._wake.set()

    async def _settle(
        self, delivery: Delivery, response: Response, decision: Decision, *, probe: bool
    ) -> None:
        now = self.clock()
        result = claims.AttemptResult(
            started_at=response.started_at,
            duration_ms=response.duration_ms,
            outcome=decision.outcome.value,
            status=decision.status,
            attempts=decision.attempts,
            next_attempt_at=now + timedelta(seconds=decision.delay),
            status_code=response.status_code,
            response_body=response.body,
            error=_error_text(response, decision),
        )
        kept = await self.ledger.settle(delivery, result)
        self.metrics.attempts.labels(decision.outcome.value).inc()
        self.metrics.attempt_seconds.observe(response.duration_ms / 1000)
        before = self.breaker.state
        healthy = classify(response.status_code) is not Outcome.RETRY
        after = self.breaker.record(time.monotonic(), ok=healthy, probe=probe)
        self.metrics.breaker.set(STATE_VALUES[after])
        fields = {
            "delivery_id": delivery.id,
            "event_id": delivery.event_id,
            "resource": delivery.resource,
            "entity_id": delivery.entity_id,
            "origin": delivery.origin,
        }
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
        if after is not before:
            log.warning("delivery.breaker_" + after.value, **fields)
            if after is BreakerState.CLOSED:
                expedited = await self.ledger.expedite()
                log.info("delivery.retries_expedited", count=expedited)
        if not kept:
            log.warning("delivery.lease_lost", **fields)
        if decision.outcome is Outcome.SUCCESS:
            self.metrics.latency.observe((now - as_utc(delivery.received_at)).total_seconds())
            delivery.status, delivery.attempts = decision.status, decision.attempts
            delivery.completed_at, delivery.last_status_code = now, response.status_code
            self.hooks.fire(self.on_delivered, delivery, name="on_delivered")
        elif decision.outcome is Outcome.PAUSE:
            self._paused = True
            self.metrics.paused.set(1)
            log.error(
                "delivery.destination_paused",
                reason="Violet answered 410 Gone: the webhook URL was revoked; nothing more is "
                "sent until `bridge events resume` (or a resend)",
                **fields,
            )
        elif decision.status == "FAILED":
            log.warning("delivery.dead_lettered", exhausted=decision.exhausted, **fields)
