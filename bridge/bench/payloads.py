"""The bytes of each request the load generator sends.

ION webhooks get a unique `event_id` each (the bridge deduplicates on it, so a repeated id would
measure the duplicate path, not storage) and, when a secret is given, ION's HMAC signature. The
body follows the contract's reference body so the bridge parses it like a real delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from bridge.bench.spec import RequestSpec

BARE_BODY = b'{"ok":true}'


def _stamp() -> str:
    """ION's body timestamp for now: UTC, milliseconds, `Z`."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def ion_document(
    event_id: int, entity_id: int, resource: str = "PURCHASE_ORDERS"
) -> dict[str, object]:
    """A reference-shaped UPDATE delivery for one object (~400 bytes, like a real PO event)."""
    return {
        "event_id": event_id,
        "subscription_id": 1,
        "resource": resource,
        "action": "UPDATE",
        "id": entity_id,
        "timestamp": _stamp(),
        "changes": {"status": {"old": "approved", "new": "ordered"}},
        "data": {
            "id": entity_id,
            "status": "ordered",
            "description": f"bench order {entity_id}",
            "supplier_id": 7,
            "ship_to_location_id": 3,
            "need_date": "2026-12-01",
            "estimated_total_cost": 1250.5,
            "_etag": f"{event_id:032x}",
        },
    }


def ion_body(event_id: int, entity_id: int, resource: str = "PURCHASE_ORDERS") -> bytes:
    return json.dumps(ion_document(event_id, entity_id, resource), separators=(",", ":")).encode()


def _template(resource: str) -> str:
    """`ion_body` as a format string: serializing once keeps the generator cheap per request."""
    marks = ion_document(-111, -222, resource)
    text = json.dumps(marks, separators=(",", ":")).replace("{", "{{").replace("}", "}}")
    text = text.replace(f'"{marks["timestamp"]}"', '"{stamp}"')
    text = text.replace(f'"{-111:032x}"', '"{etag}"')
    return text.replace("-111", "{event_id}").replace("-222", "{entity_id}")


def sign(secret: str, body: bytes) -> str:
    """ION's `x-ion-signature`: hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class RequestFactory:
    """`build(i)` gives the i-th request (event id `first_event_id + i`) as raw HTTP/1.1 bytes."""

    def __init__(self, spec: RequestSpec) -> None:
        self.spec = spec
        self._secret = spec.secret.encode() if spec.secret else None
        head = [
            f"POST {spec.path} HTTP/1.1",
            f"Host: {spec.host}:{spec.port}",
            "Content-Type: application/json",
            "User-Agent: bridge-bench",
        ]
        if spec.header is not None:
            head.append(f"{spec.header[0]}: {spec.header[1]}")
        self._head = ("\r\n".join(head) + "\r\n").encode()
        self._bare = self._request(BARE_BODY, None)
        self._template = _template(spec.resource)

    def event_id(self, index: int) -> int:
        return self.spec.first_event_id + index

    def entity_id(self, event_id: int) -> int:
        entities = self.spec.entities
        return event_id if entities <= 0 else event_id % entities + 1

    def build(self, index: int) -> bytes:
        if self.spec.kind == "bare":
            return self._bare
        event_id = self.event_id(index)
        body = self._template.format(
            event_id=event_id,
            entity_id=self.entity_id(event_id),
            stamp=_stamp(),
            etag=f"{event_id:032x}",
        ).encode()
        signature = None
        if self._secret is not None:
            signature = hmac.new(self._secret, body, hashlib.sha256).hexdigest()
        return self._request(body, signature)

    def _request(self, body: bytes, signature: str | None) -> bytes:
        extra = f"x-ion-signature: {signature}\r\n".encode() if signature else b""
        length = f"Content-Length: {len(body)}\r\n\r\n".encode()
        return self._head + extra + length + body
