"""Admitting a delivery where the ingest writer runs: the route's checks, in the route's order,
and a batch of mixed outcomes, in the writer's thread and in its process. Both backends."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy.engine import Engine

from bridge.inbox import codec
from bridge.inbox.admit import Received, Refused, admit, admit_and_store
from bridge.inbox.codec import IonEvent
from bridge.inbox.store import Disposition, Incoming, Stored
from bridge.inbox.verify import Credentials, Require, hash_token
from tests.harness import sign
from tests.inbox.test_store import deliveries, incoming, writer_for

SECRET = "admit-secret"
CREDS = Credentials(
    secrets=(SECRET,), token_hashes=(hash_token("admit-token"),), header_names=("x-t",)
)


def received(
    body: bytes,
    *,
    signature: str | None = "right",
    token: str | None = None,
    content_type: str = "application/json",
    credentials: Credentials = CREDS,
    require: Require = "any",
) -> Received:
    if signature == "right":
        signature = sign(body, credentials.secrets[0] if credentials.secrets else SECRET)
    return Received(
        body=body,
        content_type=content_type,
        signature=signature,
        token=token,
        credentials=credentials,
        require=require,
    )


def body_of(event_id: int, entity: int = 1) -> bytes:
    document = {"event_id": event_id, "resource": "PARTS", "action": "UPDATE", "id": entity}
    document["data"] = {"id": entity, "name": f"part {entity}"}
    return json.dumps(document).encode()


def identity(event: IonEvent | None) -> tuple[object, ...] | None:
    """What the hooks and the log are promised of a stored event, whoever parsed it."""
    if event is None:
        return None
    return (event.event_id, event.resource, event.action, event.entity_id)


def reason(outcome: object) -> tuple[int, str] | None:
    return (outcome.status, outcome.reason) if isinstance(outcome, Refused) else None


def test_the_checks_run_in_the_routes_order() -> None:
    """Proofs first (so a forged empty body is a 401, not a 400), then the body, then the
    content type; an authentic body is parsed, or passed through when it is not an event."""
    body = body_of(1)
    assert reason(admit(received(b"", signature="0" * 64))) == (401, "bad_signature")
    assert reason(admit(received(body, signature=None))) == (401, "missing_proof")
    assert reason(admit(received(body, signature=None, token="admit-token"))) is None
    assert reason(admit(received(body, token="wrong", signature=None))) == (401, "bad_token")
    assert reason(admit(received(body, require="both"))) == (401, "missing_token")
    assert reason(admit(received(body, credentials=Credentials()))) == (401, "no_credentials")
    assert reason(admit(received(b""))) == (400, "empty_body")
    assert reason(admit(received(body, content_type="x" * 201))) == (400, "bad_content_type")
    admitted = admit(received(body, content_type="x" * 200))
    assert admitted == Incoming(body=body, content_type="x" * 200, event=codec.parse(body))
    passthrough = admit(received(b"not json"))
    assert isinstance(passthrough, Incoming)
    assert passthrough.event is None


def test_refusals_keep_their_places_and_take_no_write() -> None:
    """The store is given the admitted deliveries only, and not called at all for none."""
    calls: list[list[Incoming]] = []

    def store(batch: list[Incoming]) -> list[Stored]:
        calls.append(batch)
        return [
            Stored(delivery_id=100 + n, disposition=Disposition.ACCEPTED, event=item.event)
            for n, item in enumerate(batch)
        ]

    trusted = incoming(3)
    items = [received(body_of(1), signature="0" * 64), received(body_of(2)), trusted]
    outcomes = admit_and_store(items, store)
    assert reason(outcomes[0]) == (401, "bad_signature")
    assert [o.delivery_id for o in outcomes[1:] if isinstance(o, Stored)] == [100, 101]
    assert [item.body for item in calls[0]] == [body_of(2), trusted.body]
    calls.clear()
    forged = [received(body_of(n), signature="0" * 64) for n in range(3)]
    assert [reason(o) for o in admit_and_store(forged, store)] == [(401, "bad_signature")] * 3
    assert calls == []


@pytest.mark.parametrize("where", ["thread", "process"])
def test_the_writer_admits_a_mixed_batch_and_answers_each_delivery(
    engine: Engine, where: str
) -> None:
    """One batch: authentic events under two sets of credentials (a rotation in progress), a
    forged one, an empty one, a pass-through and an event from reconciliation. Each gets its
    own answer, in order; the refused ones are not stored; a stored event comes back with its
    identity, whichever side parsed it."""
    rotated = Credentials(secrets=("rotated-secret",), token_hashes=(), header_names=())
    items: list[Incoming | Received] = [
        received(body_of(1, entity=7)),
        received(body_of(2, entity=8), credentials=rotated),
        received(body_of(3), signature=sign(body_of(3), "forged")),
        received(b""),
        received(b"plain text, not an event", content_type="text/plain"),
        incoming(4, entity=9),
        received(body_of(1, entity=7)),  # ION's retry of the first: a duplicate
    ]

    async def run() -> list[Stored | BaseException]:
        writer = writer_for(engine, where)
        await writer.start()
        try:
            return await asyncio.gather(
                *(writer.submit(item) for item in items), return_exceptions=True
            )
        finally:
            await writer.stop()

    outcomes = asyncio.run(run())
    assert [reason(o) for o in outcomes[2:4]] == [(401, "bad_signature"), (400, "empty_body")]
    stored = [o for o in outcomes if isinstance(o, Stored)]
    assert len(stored) == 5
    assert [s.disposition for s in stored] == [Disposition.ACCEPTED] * 4 + [Disposition.DUPLICATE]
    first, rotated_one, passthrough, trusted, duplicate = stored
    assert identity(first.event) == (1, "PARTS", "UPDATE", "7")
    assert identity(rotated_one.event) == (2, "PARTS", "UPDATE", "8")
    assert passthrough.event is None
    assert trusted.event == incoming(4, entity=9).event
    assert duplicate.delivery_id == first.delivery_id
    rows = deliveries(engine)
    assert [r.body for r in rows] == [
        body_of(1, entity=7),
        body_of(2, entity=8),
        b"plain text, not an event",
        incoming(4, entity=9).body,
    ]
    assert [r.content_type for r in rows][2] == "text/plain"
