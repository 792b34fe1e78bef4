"""Group commit: one writer task turns concurrent ingests into one transaction per batch.

Every request hands its delivery to the writer and awaits a future that resolves only after the
batch holding it has committed, so the HTTP answer still means "durably stored", while the
database sees one commit (one fsync) for however many requests arrived during the previous one.
Under light load a batch is a single delivery and nothing waits; under heavy load batches grow by
themselves, with no timer to tune.

The batch is written either in a thread of `serve` or, by default, in a process of its own
(`bridge.inbox.process`, `BRIDGE_INGEST_WRITER`): the same statements, one transaction a batch.

A delivery from the route arrives as a `Received`, unchecked: the writer admits it
(`bridge.inbox.admit`: signature, content, parse) where it writes the batch, so that work is off
`serve`'s event loop. A refused one fails its future with `Refused`; nothing of it is written.
Reconciliation's own events arrive as `Incoming`, already parsed.

If a batch fails for a reason that may be one delivery's fault, its deliveries are written one by
one so a poisoned one fails alone. A lost race with another process (unique key, deadlock) is
retried: the retry sees the other side's row. A database that is down fails every future with
StorageUnavailable, which the route answers with 503 so ION retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from bridge.errors import StorageError, StorageUnavailable
from bridge.inbox.admit import Received, Refused, admit_and_store
from bridge.inbox.batchstore import BatchStore, batch_store
from bridge.inbox.process import LostRace, WriterProcess
from bridge.inbox.store import Incoming, Stored

log = structlog.get_logger(__name__)

#: PostgreSQL's "try again" SQLSTATEs: serialization failure, deadlock.
_RETRY_SQLSTATES = {"40001", "40P01"}
_RACE_RETRIES = 4

Item = Incoming | Received
Pending = tuple[Item, "asyncio.Future[Stored]"]
Outcome = Stored | Refused


class IngestWriter:
    """The single writer of ION deliveries in this process."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime],
        on_committed: Callable[[list[Stored]], None] | None = None,
        max_batch: int = 256,
        process: WriterProcess | None = None,
    ) -> None:
        self._engine = engine
        #: Where batches are written when set; else in the writer's own thread.
        self._process = process
        self._clock = clock
        #: Called on the event loop with each committed batch's results (set by bootstrap).
        self.on_committed = on_committed
        self._max_batch = max_batch
        self._queue: asyncio.Queue[Pending | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        #: The writer's own thread: a batch never waits for a slot behind other threaded work
        #: (anyio's shared pool has 40), and the hop skips anyio's limiter and cancel scopes.
        self._thread: ThreadPoolExecutor | None = None
        #: How the thread stores a batch; held (on SQLite, a connection) while it runs.
        self._store: BatchStore | None = None

    @property
    def engine(self) -> Engine:
        """The engine batches are written through when written in a thread."""
        return self._engine

    @property
    def process(self) -> WriterProcess | None:
        """The process batches are written in; None when they are written in a thread."""
        return self._process

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if not self.running:
            if self._process is not None and not self._process.alive:
                await self._process.start()
            if self._thread is None and self._process is None:
                self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer")
                self._store = batch_store(self._engine)
            self._task = asyncio.create_task(self._run(), name="ingest-writer")

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        if self._task is None:
            return
        await self._queue.put(None)
        await self._task
        self._task = None
        if self._thread is not None:
            self._thread.shutdown(wait=False)
            self._thread = None
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._process is not None:
            await self._process.stop()

    async def submit(self, item: Item) -> Stored:
        """Store `item`; returns once it is committed. StorageError if it could not be,
        Refused if a `Received` was not admitted."""
        if not self.running:
            raise StorageUnavailable("the ingest writer is not running")
        future: asyncio.Future[Stored] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, future))
        return await future

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self._max_batch and not self._queue.empty():
                following = self._queue.get_nowait()
                if following is None:
                    stopping = True
                    break
                batch.append(following)
            outcomes = await self._commit([item for item, _ in batch])
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():  # the request was cancelled; the row is stored anyway
                    continue
                if isinstance(outcome, Stored):
                    future.set_result(outcome)
                else:  # Refused, or the StorageError that kept it from being stored
                    future.set_exception(outcome)
            stored = [outcome for outcome in outcomes if isinstance(outcome, Stored)]
            if stored and self.on_committed is not None:
                try:
                    self.on_committed(stored)
                except Exception:
                    log.exception("ingest.after_commit_failed")

    async def _commit(self, items: list[Item]) -> Sequence[Outcome | BaseException]:
        try:
            return await self._write_with_retries(items)
        except StorageUnavailable as exc:
            return [exc] * len(items)
        except StorageError as exc:
            if len(items) == 1:
                return [exc]
            log.warning("ingest.batch_failed_writing_singly", size=len(items), error=str(exc))
        outcomes: list[Outcome | BaseException] = []
        for item in items:
            try:
                outcomes.extend(await self._write_with_retries([item]))
            except StorageError as exc:
                outcomes.append(exc)
        return outcomes

    async def _write_with_retries(self, items: list[Item]) -> list[Outcome]:
        for attempt in range(1, _RACE_RETRIES):
            try:
                return await self._write_batch(items)
            except StorageError as exc:
                if not lost_a_race(exc):
                    raise
                log.info("ingest.retrying_after_race", attempt=attempt)
        return await self._write_batch(items)

    async def _write_batch(self, items: list[Item]) -> list[Outcome]:
        try:
            if self._process is not None:
                return await self._process.write(items, self._clock())
            return await asyncio.get_running_loop().run_in_executor(
                self._thread, self._write, items
            )
        except StorageError:
            raise
        except Exception as exc:
            # Not the database's fault, but the delivery is not stored all the same: the
            # request must not be answered with success, and the writer must live on.
            log.exception("ingest.unexpected_error", size=len(items))
            raise StorageError(f"could not store the delivery: {type(exc).__name__}") from exc

    def _write(self, items: list[Item]) -> list[Outcome]:
        store = self._store
        if store is None:
            raise StorageUnavailable("the ingest writer is not running")
        return admit_and_store(items, partial(store, now=self._clock()))


def lost_a_race(exc: StorageError) -> bool:
    """A unique key or a watermark stored by another process meanwhile: retrying will see it."""
    if isinstance(exc, LostRace):
        return True
    cause = exc.__cause__
    if isinstance(cause, IntegrityError):
        return True
    if isinstance(cause, DBAPIError):
        return getattr(cause.orig, "sqlstate", None) in _RETRY_SQLSTATES
    return False
