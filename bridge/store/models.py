"""The bridge's tables. One database holds the inbox, the outbox, the delivery log and the
reconciler's state, so "stored before acknowledged" is one transaction, not a two-system promise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, Text
from sqlmodel import Field, SQLModel


class DeliveryStatus:
    """Status values of a delivery (plain strings in the database)."""

    PENDING = "PENDING"  # waiting for its turn (new, or a retry whose time has not come)
    SENDING = "SENDING"  # claimed by a worker under a lease
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"  # dead letter: permanent error or retries exhausted; kept for resend
    SUPERSEDED = "SUPERSEDED"  # older than an event already forwarded for the same object

    OPEN = (PENDING, SENDING)
    ALL = (PENDING, SENDING, SUCCEEDED, FAILED, SUPERSEDED)


class Delivery(SQLModel, table=True):
    """One request the bridge owes Violet: a forwarded ION event, a repair, or a resend."""

    __tablename__ = "deliveries"
    __table_args__ = (
        # A claim is a range scan of one status in due order that stops after a few heads, each
        # checked by one probe of the entity index: its cost follows the claim, not the backlog.
        Index("ix_deliveries_due", "status", "next_attempt_at", "id"),
        Index("ix_deliveries_entity", "entity_key", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: Sent as `webhook-id`; stable across retries of this delivery.
    webhook_id: str = Field(max_length=64, unique=True)
    origin: str = Field(max_length=16)  # ion | reconcile | resend
    resend_of: str | None = Field(default=None, max_length=64)
    #: Unique sender key: "ion:<event_id>" or "sha256:<body hash>"; None for repairs/resends.
    dedupe_key: str | None = Field(default=None, max_length=80, unique=True)
    event_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    resource: str | None = Field(default=None, max_length=64)
    action: str | None = Field(default=None, max_length=16)
    entity_id: str | None = Field(default=None, max_length=64)
    #: "<RESOURCE>:<id>": deliveries with the same key go out one at a time, in order.
    entity_key: str | None = Field(default=None, max_length=140)
    content_type: str = Field(default="application/json", max_length=200)
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    status: str = Field(default=DeliveryStatus.PENDING, max_length=16)
    attempts: int = 0
    received_at: datetime
    next_attempt_at: datetime
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_expires_at: datetime | None = None
    completed_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Attempt(SQLModel, table=True):
    """One try at sending a delivery: the delivery log."""

    __tablename__ = "attempts"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(foreign_key="deliveries.id", index=True)
    started_at: datetime
    duration_ms: float
    status_code: int | None = None
    #: The response body, truncated to a few KiB.
    response_body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    outcome: str = Field(max_length=16)  # succeeded | retry | failed | paused
    next_attempt_at: datetime | None = None


class ReceiverCredential(SQLModel, table=True):
    """What the inbox needs to check ION's deliveries. Secrets are never stored in plain text:
    the shared secret is encrypted (the HMAC needs it back), the header token only hashed."""

    __tablename__ = "receiver_credentials"

    id: int | None = Field(default=None, primary_key=True)
    ion_receiver_id: int | None = None
    ion_header_id: int | None = None
    webhook_uri: str = Field(max_length=500)
    secret_encrypted: str = Field(sa_column=Column(Text, nullable=False))
    token_sha256: str = Field(max_length=64)
    header_name: str = Field(max_length=100)
    created_at: datetime
    #: None while current; once rotated, accepted until `retired_at` + the grace period.
    retired_at: datetime | None = None


class Snapshot(SQLModel, table=True):
    """Per ION object: the last state the reconciler fetched and what Violet is believed to hold."""

    __tablename__ = "snapshots"

    resource: str = Field(max_length=64, primary_key=True)
    entity_id: str = Field(max_length=64, primary_key=True)
    #: The last complete object fetched from ION (GraphQL shape).
    state: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    #: Tracked fields as Violet holds them, modelled from what the bridge sent.
    view: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    ion_updated: datetime | None = None
    first_seen_at: datetime
    updated_at: datetime
    #: When to fetch this object again (new objects fill in after creation).
    recheck_at: datetime | None = Field(default=None, index=True)
    recheck_count: int = 0


class Cursor(SQLModel, table=True):
    """Per resource, where the incremental walk stopped (`_updated`, then `id`)."""

    __tablename__ = "cursors"

    resource: str = Field(max_length=64, primary_key=True)
    updated_after: datetime | None = None
    last_id: int | None = None
    updated_at: datetime


class ReconcileRun(SQLModel, table=True):
    """One reconciliation run."""

    __tablename__ = "reconcile_runs"

    id: int | None = Field(default=None, primary_key=True)
    trigger: str = Field(max_length=16)  # schedule | cli | api | lines | webhook
    status: str = Field(max_length=16)  # RUNNING | COMPLETED | FAILED
    started_at: datetime
    finished_at: datetime | None = None
    duration_ms: float | None = None
    counts: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class EntityWatermark(SQLModel, table=True):
    """Per object, the newest ION event id accepted for forwarding (per-object ordering)."""

    __tablename__ = "entity_watermarks"

    entity_key: str = Field(max_length=140, primary_key=True)
    last_event_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime


class KeyValue(SQLModel, table=True):
    """Small pieces of bridge state (e.g. the destination paused by a 410)."""

    __tablename__ = "bridge_state"

    key: str = Field(max_length=100, primary_key=True)
    value: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    updated_at: datetime
