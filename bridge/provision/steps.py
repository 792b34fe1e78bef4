"""The steps a provisioning plan is made of: frozen values that say what will change and why.

Each step prints itself (`describe`) without any secret: a new secret or token is generated only
when the step is applied, so a plan can be shown, compared and tested as plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def _value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass(frozen=True, kw_only=True)
class CreateReceiver:
    name: str
    webhook_uri: str

    def describe(self) -> str:
        return (
            f"create receiver {self.name!r} -> {self.webhook_uri} "
            "(JSON, expects 200, active) with a new shared secret"
        )


@dataclass(frozen=True, kw_only=True)
class UpdateReceiver:
    receiver_id: int
    changes: tuple[tuple[str, Any], ...]  # (GraphQL input field, wanted value)

    def describe(self) -> str:
        fields = ", ".join(f"{name} -> {_value(value)}" for name, value in self.changes)
        return f"update receiver {self.receiver_id}: {fields}"


@dataclass(frozen=True, kw_only=True)
class RotateSecret:
    """A new shared secret (and, with the `ReplaceHeader` that follows, a new header token)."""

    receiver_id: int
    reason: str

    def describe(self) -> str:
        return f"rotate receiver {self.receiver_id}'s shared secret and header token: {self.reason}"


@dataclass(frozen=True, kw_only=True)
class RestoreSecret:
    """Put the stored shared secret back into ION (someone changed it there)."""

    receiver_id: int

    def describe(self) -> str:
        return (
            f"set receiver {self.receiver_id}'s shared secret back to the one the bridge "
            "stored (ION's differs)"
        )


@dataclass(frozen=True, kw_only=True)
class ReplaceHeader:
    header_name: str
    remove_ids: tuple[int, ...] = ()
    reason: str = ""

    def describe(self) -> str:
        text = f"add header {self.header_name!r} carrying a new random token"
        if self.remove_ids:
            text += ", then remove header " + ", ".join(map(str, self.remove_ids))
        return text + (f" ({self.reason})" if self.reason else "")


@dataclass(frozen=True, kw_only=True)
class RecordReceiver:
    """Only the bridge's database changes: the stored credential points at this receiver."""

    receiver_id: int
    header_id: int | None

    def describe(self) -> str:
        header = f", header {self.header_id}" if self.header_id else ""
        return f"record receiver {self.receiver_id}{header} in the bridge's database"


@dataclass(frozen=True, kw_only=True)
class CreateSubscription:
    resource: str
    action: str

    def describe(self) -> str:
        return f"subscribe to {self.resource} {self.action}"


@dataclass(frozen=True, kw_only=True)
class ReactivateSubscription:
    id: int
    etag: str
    resource: str
    action: str

    def describe(self) -> str:
        return f"reactivate subscription {self.id} ({self.resource} {self.action})"


@dataclass(frozen=True, kw_only=True)
class DeleteSubscription:
    id: int
    etag: str
    resource: str
    action: str
    reason: str

    def describe(self) -> str:
        return f"delete subscription {self.id} ({self.resource} {self.action}): {self.reason}"


@dataclass(frozen=True, kw_only=True)
class DeleteReceiver:
    id: int
    etag: str
    name: str
    webhook_uri: str

    def describe(self) -> str:
        return f"delete receiver {self.id} ({self.name!r} -> {self.webhook_uri})"


Step = (
    CreateReceiver
    | UpdateReceiver
    | RotateSecret
    | RestoreSecret
    | ReplaceHeader
    | RecordReceiver
    | CreateSubscription
    | ReactivateSubscription
    | DeleteSubscription
    | DeleteReceiver
)

#: Steps that change nothing in ION (a dry run or a no-op run may still show them).
LOCAL_ONLY: tuple[type, ...] = (RecordReceiver,)
