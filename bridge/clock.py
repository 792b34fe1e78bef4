"""Time, in one convention: timezone-aware datetimes in UTC (SQLModel stores them as such).

Pure code takes `now` as an argument; only the edges call `utcnow()`.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """`value` in UTC; a naive datetime is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def isoformat_z(value: datetime) -> str:
    """ISO-8601 with a trailing Z and milliseconds, as ION writes timestamps."""
    return as_utc(value).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def parse_iso(text: str) -> datetime:
    """An ISO-8601 timestamp (a trailing Z allowed) as an aware UTC datetime; ValueError if not."""
    return as_utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
