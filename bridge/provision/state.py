"""The three inputs of provisioning, as plain frozen values: what the config wants (`Desired`),
what ION has (`ObservedReceiver`), and what the bridge's database holds (`StoredCredential`).

Secrets never enter these values: ION's `sharedSecret` and the header's value are reduced to
their SHA-256 the moment they are read (`receiver_from_graphql`), and the stored secret likewise,
so the plan can compare them and nothing printable can leak them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge.crypto import hash_token

#: The receiver settings the bridge insists on (ION: JSON bodies, answered with this status).
CONTENT_TYPE = "JSON"
EXPECTED_RESPONSE_CODE = 200
ACTIONS = ("CREATE", "UPDATE", "DELETE")

Pair = tuple[str, str]  # (live resource, action)


@dataclass(frozen=True, kw_only=True)
class Desired:
    """What `bridge setup` should make true in ION."""

    name: str
    webhook_uri: str
    header_name: str
    subscriptions: frozenset[Pair]
    unknown_resources: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ObservedSubscription:
    id: int
    etag: str
    resource: str | None
    action: str | None
    active: bool

    @property
    def pair(self) -> Pair:
        return (self.resource or "?", self.action or "?")


@dataclass(frozen=True, kw_only=True)
class ObservedHeader:
    id: int
    key: str
    #: None when ION did not show the value (masked or empty): it cannot be compared.
    value_sha256: str | None


@dataclass(frozen=True, kw_only=True)
class ObservedReceiver:
    id: int
    etag: str
    name: str
    webhook_uri: str
    active: bool | None
    content_type: str | None
    expected_response_code: int | None
    #: None when ION showed no secret or a masked one.
    secret_sha256: str | None
    headers: tuple[ObservedHeader, ...] = ()
    subscriptions: tuple[ObservedSubscription, ...] = ()

    def headers_named(self, name: str) -> tuple[ObservedHeader, ...]:
        """Headers whose key is `name`; HTTP header names ignore case."""
        return tuple(h for h in self.headers if h.key.lower() == name.lower())


@dataclass(frozen=True, kw_only=True)
class StoredCredential:
    """The bridge's current credential row, reduced to what the plan compares."""

    id: int
    receiver_id: int | None
    header_id: int | None
    webhook_uri: str
    #: None when the stored secret cannot be decrypted with the current key.
    secret_sha256: str | None
    token_sha256: str


def fingerprint(value: Any) -> str | None:
    """The SHA-256 of a secret ION showed, or None when it showed none or a masked one
    (`****`): comparing a mask with the stored secret would plan a repair on every run."""
    if not isinstance(value, str) or len(value) < 8 or len(set(value)) < 4:
        return None
    return hash_token(value)


def receiver_from_graphql(node: Mapping[str, Any]) -> ObservedReceiver:
    """An `ObservedReceiver` from a `WebhookReceivers` node, secrets hashed on the spot."""
    return ObservedReceiver(
        id=int(node["id"]),
        etag=str(node.get("_etag") or ""),
        name=str(node.get("name") or ""),
        webhook_uri=str(node.get("webhookUri") or ""),
        active=node.get("active"),
        content_type=node.get("contentType"),
        expected_response_code=node.get("expectedResponseCode"),
        secret_sha256=fingerprint(node.get("sharedSecret")),
        headers=tuple(
            ObservedHeader(
                id=int(h["id"]),
                key=str(h.get("key") or ""),
                value_sha256=fingerprint(h.get("value")),
            )
            for h in node.get("headers") or ()
            if h is not None
        ),
        subscriptions=tuple(
            sorted(
                (
                    ObservedSubscription(
                        id=int(s["id"]),
                        etag=str(s.get("_etag") or ""),
                        resource=s.get("resource"),
                        action=s.get("action"),
                        active=bool(s.get("active")),
                    )
                    for s in node.get("subscriptions") or ()
                    if s is not None
                ),
                key=lambda s: s.id,
            )
        ),
    )


@dataclass(frozen=True, kw_only=True)
class SubscriptionDiff:
    """The bridge receiver's subscriptions compared with the wanted (resource, action) pairs."""

    ok: tuple[ObservedSubscription, ...]
    missing: tuple[Pair, ...]
    inactive: tuple[ObservedSubscription, ...]
    extra: tuple[ObservedSubscription, ...]
    #: A second subscription for a wanted pair: ION would deliver every event twice.
    duplicates: tuple[ObservedSubscription, ...]


def compare_subscriptions(
    wanted: frozenset[Pair], subscriptions: tuple[ObservedSubscription, ...]
) -> SubscriptionDiff:
    """Which wanted pairs are served, missing or inactive, and which subscriptions are surplus."""
    by_pair: dict[Pair, list[ObservedSubscription]] = {}
    for sub in subscriptions:
        by_pair.setdefault(sub.pair, []).append(sub)
    ok: list[ObservedSubscription] = []
    missing: list[Pair] = []
    inactive: list[ObservedSubscription] = []
    duplicates: list[ObservedSubscription] = []
    for pair in sorted(wanted):
        subs = by_pair.get(pair, [])
        if not subs:
            missing.append(pair)
            continue
        # Keep the oldest active one; an inactive one only when none is active.
        keep = next((s for s in subs if s.active), subs[0])
        (ok if keep.active else inactive).append(keep)
        duplicates += [s for s in subs if s is not keep]
    extra = [s for pair, subs in sorted(by_pair.items()) if pair not in wanted for s in subs]
    return SubscriptionDiff(
        ok=tuple(ok),
        missing=tuple(missing),
        inactive=tuple(inactive),
        extra=tuple(extra),
        duplicates=tuple(duplicates),
    )


def receiver_drift(receiver: ObservedReceiver, desired: Desired) -> dict[str, Any]:
    """Receiver fields ION holds differently from what the bridge wants: field -> wanted value.

    A null content type is left alone: ION may report its default that way, and insisting on
    it would make every run send an update.
    """
    changes: dict[str, Any] = {}
    if receiver.webhook_uri != desired.webhook_uri:
        changes["webhookUri"] = desired.webhook_uri
    if receiver.active is not True:
        changes["active"] = True
    if receiver.content_type is not None and receiver.content_type != CONTENT_TYPE:
        changes["contentType"] = CONTENT_TYPE
    if receiver.expected_response_code != EXPECTED_RESPONSE_CODE:
        changes["expectedResponseCode"] = EXPECTED_RESPONSE_CODE
    return changes
