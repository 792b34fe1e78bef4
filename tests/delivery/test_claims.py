"""Claiming and settling deliveries: per-object order, leases, shared work. Both backends."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import select

from bridge.delivery import claims, outbox
from bridge.delivery.claims import AttemptResult
from bridge.delivery.ledger import Ledger, Settlement
from bridge.store.db import session_scope, worker_engine
from bridge.store.models import Attempt, Delivery, DeliveryStatus

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
#: A first attempt Violet accepted.
SUCCEEDED = AttemptResult(
    started_at=T0,
    duration_ms=1.0,
    outcome="succeeded",
    status=DeliveryStatus.SUCCEEDED,
    attempts=1,
    next_attempt_at=T0,
    status_code=200,
)


def add(engine: Engine, resource: str | None = "PARTS", entity: str | None = "1") -> int:
    with session_scope(engine) as session:
        delivery = outbox.new_delivery(
            origin="ion",
            body=b"{}",
            content_type="application/json",
            now=T0,
            resource=resource,
            entity_id=entity,
        )
        session.add(delivery)
        session.flush()
        assert delivery.id is not None
        return delivery.id


def claim(engine: Engine, owner: str = "a", limit: int = 10, at: datetime = T0) -> list[int]:
    with session_scope(engine) as session:
        rows = claims.claim(session, owner=owner, limit=limit, now=at, lease_seconds=60)
        return [row.id for row in rows if row.id is not None]


def settle(
    engine: Engine, delivery_id: int, status: str, *, owner: str = "a", delay: float = 0
) -> bool:
    result = AttemptResult(
        started_at=T0,
        duration_ms=1.0,
        outcome="succeeded" if status == DeliveryStatus.SUCCEEDED else "retry",
        status=status,
        attempts=1,
        next_attempt_at=T0 + timedelta(seconds=delay),
        status_code=200 if status == DeliveryStatus.SUCCEEDED else 503,
        response_body="x" * 10_000,
    )
    with session_scope(engine) as session:
        return claims.finish_many(session, [(delivery_id, result)], owner=owner)[0]


def test_one_delivery_per_object_at_a_time_in_order(engine: Engine) -> None:
    """The second event of an object waits for the first; other objects go alongside."""
    x1, x2, y1 = add(engine, entity="x"), add(engine, entity="x"), add(engine, entity="y")
    loose = add(engine, resource=None, entity=None)
    assert claim(engine) == [x1, y1, loose]
    assert claim(engine) == []
    assert settle(engine, x1, DeliveryStatus.SUCCEEDED)
    assert claim(engine) == [x2]


def test_a_retrying_delivery_holds_back_its_object_only(engine: Engine) -> None:
    """While the head waits out a retry, later events of its object wait; others do not."""
    x1, x2 = add(engine, entity="x"), add(engine, entity="x")
    assert claim(engine) == [x1]
    settle(engine, x1, DeliveryStatus.PENDING, delay=30)
    y1 = add(engine, entity="y")
    assert claim(engine) == [y1]
    assert claim(engine, at=T0 + timedelta(seconds=31)) == [x1]
    settle(engine, x1, DeliveryStatus.FAILED)
    assert claim(engine, at=T0 + timedelta(seconds=31)) == [x2]


def test_expired_lease_is_claimed_again(engine: Engine) -> None:
    """A worker that died keeps its deliveries only until the lease runs out."""
    d = add(engine)
    assert claim(engine, owner="dead") == [d]
    assert claim(engine, owner="b", at=T0 + timedelta(seconds=59)) == []
    assert claim(engine, owner="b", at=T0 + timedelta(seconds=61)) == [d]
    assert not settle(engine, d, DeliveryStatus.SUCCEEDED, owner="dead")
    with session_scope(engine) as session:
        row = session.get(Delivery, d)
        assert row is not None
        assert row.status == DeliveryStatus.SENDING
        assert row.lease_owner == "b"
    assert settle(engine, d, DeliveryStatus.SUCCEEDED, owner="b")


def test_finish_records_the_attempt_with_a_truncated_response(engine: Engine) -> None:
    """Every attempt is logged; the response is cut to 4 KiB."""
    d = add(engine)
    claim(engine)
    settle(engine, d, DeliveryStatus.SUCCEEDED)
    with session_scope(engine) as session:
        row = session.get(Delivery, d)
        attempt = session.exec(select(Attempt).where(Attempt.delivery_id == d)).one()
        assert row is not None
        assert row.status == DeliveryStatus.SUCCEEDED
        assert row.completed_at is not None
        assert row.lease_owner is None
        assert attempt.response_body is not None
        assert len(attempt.response_body) == 4096


def test_release_hands_work_back(engine: Engine) -> None:
    """On shutdown, leased deliveries go back to PENDING for anyone to take."""
    d1, d2 = add(engine, entity="1"), add(engine, entity="2")
    assert claim(engine, owner="me") == [d1, d2]
    with session_scope(engine) as session:
        assert claims.release(session, owner="me") == 2
    assert claim(engine, owner="other") == [d1, d2]


def test_expedite_makes_waiting_retries_due(engine: Engine) -> None:
    """When Violet is back, deliveries waiting out a retry become due at once."""
    d = add(engine)
    claim(engine)
    settle(engine, d, DeliveryStatus.PENDING, delay=3600)
    assert claim(engine) == []
    with session_scope(engine) as session:
        assert claims.expedite(session, now=T0) == 1
    assert claim(engine) == [d]


def test_concurrent_claimers_never_share_a_delivery(engine: Engine) -> None:
    """Several workers claiming at once split the work without overlap (SKIP LOCKED on PG)."""
    ids = {add(engine, entity=str(i)) for i in range(60)}
    got: list[list[int]] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        mine: list[int] = []
        while True:
            batch = claim(engine, owner=name, limit=3)
            if not batch:
                break
            mine.extend(batch)
        with lock:
            got.append(mine)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    claimed = [d for mine in got for d in mine]
    assert sorted(claimed) == sorted(ids)


def test_a_batch_of_results_settles_only_what_the_owner_still_holds(engine: Engine) -> None:
    """One exchange writes many results; a delivery whose lease another worker took meanwhile
    keeps that worker's claim, and its attempt is still logged."""
    mine, lost = add(engine, entity="m"), add(engine, entity="l")
    assert claim(engine, owner="a") == [mine, lost]
    later = T0 + timedelta(seconds=61)
    with session_scope(engine) as session:  # `a` stalls; `b` takes over the expired leases
        taken = claims.claim(session, owner="b", limit=1, now=later, lease_seconds=60)
        assert [row.id for row in taken] == [mine]
    ok = SUCCEEDED
    with session_scope(engine) as session:
        kept = claims.finish_many(session, [(mine, ok), (lost, ok)], owner="a")
    assert kept == [False, True]
    with session_scope(engine) as session:
        rows = {row.id: row for row in session.exec(select(Delivery)).all()}
        logged = session.exec(select(Attempt.delivery_id)).all()
    assert rows[mine].status == DeliveryStatus.SENDING
    assert rows[mine].lease_owner == "b"
    assert rows[lost].status == DeliveryStatus.SUCCEEDED
    assert sorted(logged) == sorted([mine, lost])


def test_a_claim_reads_an_ordered_index_range_not_the_backlog(engine: Engine) -> None:
    """The claim scans the due index in order and stops after `limit` heads: no sort over the
    whole backlog, even on PostgreSQL with statistics that have not seen the backlog yet (the
    worker's own engine)."""
    for i in range(300):
        add(engine, entity=str(i))
    worker = worker_engine(engine)
    with session_scope(worker) as session:
        connection = session.connection()
        compiled = claims._SOURCES[1].compile(engine)
        expanded = compiled.construct_expanded_state({"now": T0, "limit": 8})
        params = expanded.parameters
        statement = expanded.statement
        if engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}",
                tuple(params[name] for name in expanded.positiontup or ()),
            ).all()
            plan = "\n".join(str(row[-1]) for row in rows)
            assert "TEMP B-TREE" not in plan, plan
        else:
            plan = "\n".join(
                row[0] for row in connection.exec_driver_sql(f"EXPLAIN {statement}", params)
            )
            assert "Sort" not in plan, plan
            assert "Seq Scan" not in plan, plan
        assert "ix_deliveries_due" in plan, plan
        assert "ix_deliveries_entity" in plan, plan
    if worker is not engine:
        worker.dispose()


def test_one_exchange_settles_then_claims_the_next_event_of_the_object(engine: Engine) -> None:
    """The worker's exchange writes the finished results first and claims after, in one
    transaction: the next event of an object goes out in the same round trip that settles the
    one before it, and a repeated exchange claims nothing twice."""
    x1, x2, y1 = add(engine, entity="x"), add(engine, entity="x"), add(engine, entity="y")
    ledger = Ledger(engine, owner="w", clock=lambda: T0, lease_seconds=60)
    first = asyncio.run(ledger.exchange([], limit=8))
    assert [d.id for d in first.claimed] == [x1, y1]
    done = SUCCEEDED
    settled = [Settlement(delivery=d, result=done) for d in first.claimed]
    second = asyncio.run(ledger.exchange(settled, limit=8))
    assert second.kept == [True, True]
    assert [d.id for d in second.claimed] == [x2]
    assert asyncio.run(ledger.exchange([], limit=8)).claimed == []


def test_an_exchange_hands_back_what_the_worker_reserved_but_did_not_send(engine: Engine) -> None:
    """The worker's reserve goes back in its next exchange, in the same transaction that writes
    results and claims: only the named deliveries, and only while this worker holds them."""
    x, y, z = add(engine, entity="x"), add(engine, entity="y"), add(engine, entity="z")
    ledger = Ledger(engine, owner="w", clock=lambda: T0, lease_seconds=60)
    assert [d.id for d in asyncio.run(ledger.exchange([], limit=8)).claimed] == [x, y, z]
    assert claim(engine, owner="thief") == []
    handed = asyncio.run(ledger.exchange([], limit=0, release=[y, z]))
    assert handed.claimed == []
    with session_scope(engine) as session:
        rows = {d.id: d for d in session.exec(select(Delivery)).all()}
    assert (rows[x].status, rows[x].lease_owner) == (DeliveryStatus.SENDING, "w")
    for handed_back in (y, z):
        row = rows[handed_back]
        assert (row.status, row.lease_owner, row.attempts) == (DeliveryStatus.PENDING, None, 0)
    assert claim(engine, owner="other") == [y, z]
    # Another worker's lease is not this worker's to hand back.
    asyncio.run(ledger.exchange([], limit=0, release=[y]))
    assert claim(engine, owner="third") == []
