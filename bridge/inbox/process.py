"""The inbox's batches written by a process of their own (`BRIDGE_INGEST_WRITER=process`).

Why: `serve` is one Python process, so its event loop (HTTP, checks, the worker) and a writer
thread take turns holding the GIL, and a request's share of the batch's database work is spent
on the same core as the HTTP server. In a process of its own, the batch runs on the other core,
and `serve` only pickles a few fields per delivery. Side by side on the 2-core bench machine
(five runs): 1.13–2.0 × the deliveries per second the thread ingests on SQLite,
and a lower p99 at a fixed rate (README, "Performance and reliability").

How: one duplex pipe and one batch in flight (the writer task awaits each, so ids still rise in
arrival order). `serve` sends `(now, policies, items)`: a delivery from the route as
`("r", body, content_type, signature, token, policy)`, where `policy` indexes the batch's
credentials and `inbox_require` (one entry per distinct set, usually one); an event from
reconciliation as `("i", body, content_type, event_id, resource, action, entity_id)`, already
parsed. The writer process admits each delivery (`bridge.inbox.admit`: the proofs, the content,
the parse), stores the admitted ones in one transaction (`bridge.inbox.batchstore`), and only
then answers `("ok", [...])` with, per item, `("s", delivery_id, disposition, event)` (`event`:
the parsed event's id, resource, action and object id, for a delivery from the route) or
`("x", status, reason)` for a refusal; or an error kind and a one-line message. So an answer
still means "durably stored", and the body's JSON is parsed once, in the writer process.

The receiver's secrets cross the pipe, to this process's own child, and are kept in its memory
only, as in `serve`'s.

Its life: started by the ingest writer (forked from multiprocessing's fork server, a clean
process: nothing inherited from `serve` but the pipe), it ignores SIGINT and SIGTERM and exits
when the pipe closes: when `serve` stops it, and also when `serve` is killed (the kernel closes
`serve`'s end). If it dies, the batch in flight fails with StorageUnavailable (503,
ION retries: nothing acknowledged is lost) and the next batch starts a new one. Its SQLite writes
take the same per-database write lock as `serve`'s (`bridge.delivery.serial`), across processes.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
import signal
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from multiprocessing.connection import Connection
from typing import Any

import structlog

from bridge.errors import StorageError, StorageUnavailable
from bridge.inbox.admit import Received, Refused
from bridge.inbox.codec import IonEvent
from bridge.inbox.store import Disposition, Incoming, Stored
from bridge.inbox.verify import Credentials, Require

log = structlog.get_logger(__name__)

#: One item as sent to the writer process (see the module's docstring).
Wire = tuple[Any, ...]
#: The credentials and `inbox_require` a batch's deliveries are checked against.
Policy = tuple[tuple[str, ...], tuple[str, ...], Require]
#: What the writer process answers per item: stored, or refused.
Answer = tuple[Any, ...]
#: A parsed event's identity as it comes back: id, resource, action, object id.
EventKey = tuple[int, str, str | None, str | None]

_READY = "ready"
_STOP_SECONDS = 5.0


class LostRace(StorageError):
    """Another process stored the same key or watermark first; the batch may be retried."""


def _to_wire(items: Sequence[Incoming | Received]) -> tuple[list[Policy], list[Wire]]:
    """The batch as sent: its distinct policies, and each item tagged `r` or `i`."""
    policies: list[Policy] = []
    index: dict[tuple[int, str], int] = {}
    wires: list[Wire] = []
    for item in items:
        if isinstance(item, Received):
            key = (id(item.credentials), item.require)
            if key not in index:
                index[key] = len(policies)
                creds = item.credentials
                policies.append((creds.secrets, creds.token_hashes, item.require))
            wires.append(("r", item.body, item.content_type, item.signature, item.token,
                          index[key]))  # fmt: skip
            continue
        event = item.event
        if event is None:
            wires.append(("i", item.body, item.content_type, None, None, None, None))
        else:
            wires.append(("i", item.body, item.content_type, event.event_id, event.resource,
                          event.action, event.entity_id))  # fmt: skip
    return policies, wires


def _from_wire(policies: Sequence[Policy], wires: Sequence[Wire]) -> list[Incoming | Received]:
    """The batch as received: one `Credentials` per policy, shared by its deliveries."""
    checks = [(Credentials(secrets=s, token_hashes=t), r) for s, t, r in policies]
    return [_item(checks, wire) for wire in wires]


def _item(checks: Sequence[tuple[Credentials, Require]], wire: Wire) -> Incoming | Received:
    if wire[0] == "r":
        _, body, content_type, signature, token, policy = wire
        credentials, require = checks[policy]
        return Received(body=body, content_type=content_type, signature=signature, token=token,
                        credentials=credentials, require=require)  # fmt: skip
    _, body, content_type, event_id, resource, action, entity_id = wire
    event = None
    if event_id is not None:
        event = IonEvent(event_id=event_id, resource=resource or "", action=action,
                         entity_id=entity_id)  # fmt: skip
    return Incoming(body=body, content_type=content_type, event=event)


def _answer(item: Incoming | Received, outcome: Stored | Refused) -> Answer:
    """One item's answer: the event's identity goes back only for a delivery parsed here."""
    if isinstance(outcome, Refused):
        return ("x", outcome.status, outcome.reason)
    event = outcome.event
    key: EventKey | None = None
    if isinstance(item, Received) and event is not None:
        key = (event.event_id, event.resource, event.action, event.entity_id)
    return ("s", outcome.delivery_id, outcome.disposition.value, key)


class WriterProcess:
    """`serve`'s end of the writer process: `write` a batch, get its results."""

    def __init__(self, url: str, *, wal_autocheckpoint: bool) -> None:
        self._url = url
        self._wal_autocheckpoint = wal_autocheckpoint
        self._conn: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._answer: asyncio.Future[Any] | None = None
        self._ready: asyncio.Future[Any] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        return self._conn is not None and self._process is not None and self._process.is_alive()

    async def start(self) -> None:
        """Start the process and wait until its database is open. StorageError if it cannot."""
        context = _context()
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(
            target=_main,
            args=(self._url, self._wal_autocheckpoint, theirs),
            name="bridge-ingest-writer",
            daemon=True,
        )
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, process.start)
        theirs.close()
        self._conn, self._process = ours, process
        self._ready = loop.create_future()
        loop.add_reader(ours.fileno(), self._readable)
        try:
            kind, detail = await self._ready
        finally:
            self._ready = None
        if kind != _READY:
            await self.stop()
            raise StorageUnavailable(f"the ingest writer process could not start: {detail}")
        log.info("ingest.writer_process_started", pid=process.pid)

    async def write(
        self, items: Sequence[Incoming | Received], now: datetime
    ) -> list[Stored | Refused]:
        """Admit and store `items` in one transaction of the writer process; their outcomes,
        in order."""
        if not self.alive:
            await self.stop()
            await self.start()
        assert self._conn is not None
        policies, wires = _to_wire(items)
        message = pickle.dumps((now, policies, wires), pickle.HIGHEST_PROTOCOL)
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._answer = answer
        try:
            self._conn.send_bytes(message)
        except OSError as exc:
            self._answer = None
            self._died(f"sending failed: {exc}")
            raise StorageUnavailable("the ingest writer process stopped") from None
        try:
            kind, detail = await answer
        except asyncio.CancelledError:
            # Its answer would arrive for the next batch: this process is done with.
            self._discard()
            raise
        finally:
            self._answer = None
        if kind == "ok":
            return [_outcome(item, answer) for item, answer in zip(items, detail, strict=True)]
        error = {"race": LostRace, "unavailable": StorageUnavailable}.get(kind, StorageError)
        raise error(detail)

    async def stop(self) -> None:
        """Close the pipe (the process exits on it) and wait for the process, at most 5 s."""
        process, self._process = self._process, None
        self._discard()
        self._fail_waiting("the ingest writer process was stopped")
        if process is not None:
            await asyncio.get_running_loop().run_in_executor(None, _join, process)

    # -- the pipe ---------------------------------------------------------------------------
    def _readable(self) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            answer = pickle.loads(conn.recv_bytes())  # noqa: S301 -- our own child, our pipe
        except (EOFError, OSError) as exc:
            self._died(f"its pipe closed ({type(exc).__name__})")
            return
        waiting = self._ready if self._ready is not None else self._answer
        if waiting is not None and not waiting.done():
            waiting.set_result(answer)

    def _discard(self) -> None:
        """Close the pipe: the process exits, and the next batch starts a new one."""
        conn, self._conn = self._conn, None
        if conn is not None:
            asyncio.get_running_loop().remove_reader(conn.fileno())
            conn.close()

    def _died(self, why: str) -> None:
        process = self._process
        self._discard()
        code = process.exitcode if process is not None else None
        log.error("ingest.writer_process_died", why=why, exitcode=code)
        self._fail_waiting("the ingest writer process stopped")

    def _fail_waiting(self, message: str) -> None:
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(("failed", message))
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(StorageUnavailable(message))


def _context() -> multiprocessing.context.ForkServerContext:
    """`forkserver`: a clean process (no threads, no locks held) started once, then a fork of it
    per writer process, with the writer's modules already imported (~20 ms, not ~0.5 s)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__, "bridge.inbox.admit", "bridge.inbox.batchstore"])
    return context


def _outcome(item: Incoming | Received, answer: Answer) -> Stored | Refused:
    """`serve`'s side of `_answer`. A delivery parsed in the writer process comes back with its
    event's identity only (id, resource, action, object id): what the hooks and the log use;
    its body is in the database."""
    if answer[0] == "x":
        return Refused(answer[1], answer[2])
    _, delivery_id, value, key = answer
    disposition = Disposition(value)
    event = item.event if isinstance(item, Incoming) else None
    if key is not None:
        event_id, resource, action, entity_id = key
        event = IonEvent(event_id=event_id, resource=resource, action=action, entity_id=entity_id)
    if disposition is Disposition.SUPERSEDED and event is not None:
        event = replace(event, superseded=True)
    return Stored(delivery_id=delivery_id, disposition=disposition, event=event)


def _join(process: multiprocessing.process.BaseProcess) -> None:
    process.join(_STOP_SECONDS)
    if process.is_alive():
        process.kill()
        process.join(_STOP_SECONDS)


# -- the writer process -----------------------------------------------------------------------
def _main(url: str, wal_autocheckpoint: bool, conn: Connection) -> None:
    """Open the database, say ready, then store each batch received until the pipe closes.

    Ctrl-C (SIGINT to the whole foreground group) and a SIGTERM sent to every process of a
    service (systemd's default) are `serve`'s to act on: it finishes what is queued, then closes
    the pipe, which ends this process. Ignoring them here keeps a batch from dying half-way."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from bridge.inbox.admit import admit_and_store
    from bridge.inbox.batchstore import batch_store
    from bridge.inbox.writer import lost_a_race
    from bridge.store.db import INGEST_OPTIONS, make_engine

    try:
        engine = make_engine(
            url, wal_autocheckpoint=wal_autocheckpoint, session_options=INGEST_OPTIONS
        )
        with engine.connect():
            pass
    except Exception as exc:  # reported to serve, which logs it
        conn.send_bytes(pickle.dumps(("failed", f"{type(exc).__name__}: {exc}")))
        return
    store = batch_store(engine)
    conn.send_bytes(pickle.dumps((_READY, None)))
    while True:
        try:
            now, policies, wires = pickle.loads(conn.recv_bytes())  # noqa: S301 -- serve's pipe
        except (EOFError, OSError):
            store.close()
            engine.dispose()
            return
        answer: tuple[str, Any]
        try:
            items = _from_wire(policies, wires)
            outcomes = admit_and_store(items, partial(store, now=now))
            answer = ("ok", [_answer(i, o) for i, o in zip(items, outcomes, strict=True)])
        except StorageUnavailable as exc:
            answer = ("unavailable", str(exc))
        except StorageError as exc:
            answer = ("race" if lost_a_race(exc) else "error", str(exc))
        except Exception as exc:  # not the database's: still not stored
            answer = ("error", f"could not store the delivery: {type(exc).__name__}: {exc}")
        try:
            conn.send_bytes(pickle.dumps(answer, pickle.HIGHEST_PROTOCOL))
        except OSError:
            store.close()
            engine.dispose()
            return
