"""What a delivery must pass before it is stored, run by the ingest writer, not by the route.

`serve`'s event loop is the inbox's limit: with the signature check and the parse in the route,
they and the log line were about half of the app's own CPU per request (in-process, 64
callers: ~140 µs against ~70 µs without all three; with the first two moved here, 73–105
against 114–154 µs). So the route hands the writer a `Received` (the raw body and the proofs
as they arrived, with the credentials it read) and the writer, in its own process by default,
admits it: the same checks in the same order as before, then the parse.

1. the proofs (`verify`) → `Refused(401, reason)`;
2. an empty body or an absurd content type → `Refused(400, reason)`;
3. `codec.parse`: an `Incoming`, an event or a pass-through.

A refused delivery is never written. The route answers it and, for a 401, reloads the
credentials once (a rotation by `bridge setup` in another process) and submits it again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bridge.inbox import codec
from bridge.inbox.store import Incoming, Stored
from bridge.inbox.verify import Credentials, Require, verify

#: Fits `Delivery.content_type`; real content types are a few dozen characters.
MAX_CONTENT_TYPE = 200


@dataclass(frozen=True, kw_only=True)
class Received:
    """One delivery as the route read it: nothing checked or parsed yet."""

    body: bytes
    content_type: str
    signature: str | None
    token: str | None
    #: What to check the proofs against: the route's credentials when it read them.
    credentials: Credentials = field(repr=False)
    require: Require


class Refused(Exception):
    """The delivery was not admitted: the HTTP status and the reason (a metric label, safe to
    log) to answer with. Nothing of it was written."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


def admit(item: Received) -> Incoming | Refused:
    """The delivery ready to store, or why it is refused."""
    verdict = verify(
        body=item.body,
        signature=item.signature,
        token=item.token,
        credentials=item.credentials,
        require=item.require,
    )
    if not verdict.ok:
        return Refused(401, verdict.reason)
    if not item.body:
        return Refused(400, "empty_body")
    if len(item.content_type) > MAX_CONTENT_TYPE:
        return Refused(400, "bad_content_type")
    return Incoming(body=item.body, content_type=item.content_type, event=codec.parse(item.body))


def admit_and_store(
    items: Sequence[Incoming | Received], store: Callable[[list[Incoming]], list[Stored]]
) -> list[Stored | Refused]:
    """Per item, in order: its `Stored` or its refusal. `store` (one transaction) is given the
    admitted ones, and is not called when there are none: a batch of refusals takes no write
    lock. An `Incoming` passes as it is: it was checked by its maker."""
    admitted = [admit(item) if isinstance(item, Received) else item for item in items]
    incoming = [item for item in admitted if isinstance(item, Incoming)]
    results = iter(store(incoming) if incoming else [])
    return [item if isinstance(item, Refused) else next(results) for item in admitted]
