"""The stand-in's whole state: settings, tables, tokens, switches and counters.

    Rejected              a request ION would refuse; becomes a GraphQL error (or a 4xx)
    ├── NotFound          no row with that id
    ├── StaleEtag         the etag given is not the row's current one
    └── Invalid           a value ION would not accept

The world is mutated only on the server's event loop, so it needs no locks; other threads may
read it for assertions. Rows are written through `insert`, `update`, `touch` and `delete` (each
counts a write of its table), so that `ordered` knows when its sorted copy is out of date.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.sandbox.ion.tables import TABLES

Row = dict[str, Any]

_ACTOR_ID = 1  # the API key's user; every write is made "by" it


class Rejected(Exception):
    """ION refuses the request; the message is what its `errors` entry would say."""


class NotFound(Rejected):
    """No row with that id."""


class StaleEtag(Rejected):
    """The etag sent with an update or delete is not the row's current etag."""


class Invalid(Rejected):
    """A value ION would not accept."""


@dataclass
class Limitations:
    """ION's four known webhook limitations; each one on (True) reproduces it."""

    no_line_create_event: bool = True
    empty_to_populated_dropped: bool = True
    links_as_ids: bool = True
    late_fields: bool = True


@dataclass
class Faults:
    graphql_502: int = 0
    slow_ms: int = 0
    unauthorized_once: bool = False


@dataclass
class Stats:
    graphql_requests: int = 0
    token_requests: int = 0
    webhook_posts: int = 0
    mutations: Counter[str] = field(default_factory=Counter)
    queries: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {
            "graphql_requests": self.graphql_requests,
            "token_requests": self.token_requests,
            "webhook_posts": self.webhook_posts,
            "mutations": {"total": self.mutations.total(), "by_name": dict(self.mutations)},
            "queries": {"total": self.queries.total(), "by_field": dict(self.queries)},
        }


class IonWorld:
    """ION's data and the stand-in's settings; hand it to `create_app`."""

    def __init__(
        self,
        *,
        clients: dict[str, str] | None = None,
        token_ttl_seconds: int = 300,
        webhook_retry_delays: tuple[float, ...] = (1.0, 2.0, 5.0, 15.0, 60.0),
        webhook_timeout_seconds: float = 10.0,
        limitations: Limitations | None = None,
        settle_delay_seconds: float = 0.5,
        seed: int = 0,
    ) -> None:
        self.clients = {"sandbox-client": "sandbox-secret"} if clients is None else dict(clients)
        self.token_ttl_seconds = token_ttl_seconds
        self.webhook_retry_delays = tuple(webhook_retry_delays)
        self.webhook_timeout_seconds = webhook_timeout_seconds
        self.limitations = Limitations() if limitations is None else limitations
        self.settle_delay_seconds = settle_delay_seconds
        self.tables: dict[str, dict[int, Row]] = {name: {} for name in TABLES}
        self.receiver_headers: dict[int, list[int]] = {}
        #: Columns of new rows held back by the `late_fields` limitation, by (table, id).
        self.held: dict[tuple[str, int], Row] = {}
        #: Issued access tokens and when they expire (time.monotonic()).
        self.tokens: dict[str, float] = {}
        self.stats = Stats()
        self.faults = Faults()
        self._rng = random.Random(seed)
        self._last_ids: Counter[str] = Counter()
        self._entity_ids = 0
        self._clock = datetime(1970, 1, 1, tzinfo=UTC)
        #: Writes per table, and per (table, key) the rows sorted by (key, id) at a write count.
        self._writes: Counter[str] = Counter()
        self._ordered: dict[tuple[str, str], tuple[int, list[tuple[Any, int]], list[Row]]] = {}

    def now(self) -> datetime:
        """UTC now, strictly later than any time handed out before: `_updated` orders writes."""
        self._clock = max(datetime.now(UTC), self._clock + timedelta(microseconds=1))
        return self._clock

    def next_id(self, table: str) -> int:
        self._last_ids[table] += 1
        return self._last_ids[table]

    def find(self, table: str, row_id: int | None) -> Row | None:
        return None if row_id is None else self.tables[table].get(row_id)

    def get(self, table: str, row_id: int) -> Row:
        row = self.find(table, row_id)
        if row is None:
            raise NotFound(f"{TABLES[table].typename} with id {row_id} not found")
        return row

    def rows(self, table: str) -> list[Row]:
        return list(self.tables[table].values())

    def ordered(self, table: str, key: str) -> tuple[list[tuple[Any, int]], list[Row]]:
        """The table's rows sorted by (`key`, id), and those sort keys (for `bisect`): ION's index
        for a keyset walk. Sorted again only after the table was written."""
        writes = self._writes[table]
        cached = self._ordered.get((table, key))
        if cached is None or cached[0] != writes:
            rows = sorted(self.tables[table].values(), key=lambda row: (row[key], row["id"]))
            cached = (writes, [(row[key], row["id"]) for row in rows], rows)
            self._ordered[(table, key)] = cached
        return cached[1], cached[2]

    def insert(self, table: str, values: Row, *, at: datetime | None = None) -> Row:
        """Store a new row: a raw table write (no webhooks, no roll-ups), e.g. to seed data.
        `at` dates the row (`_created`, `_updated`), e.g. a catalog built over past months."""
        spec = TABLES[table]
        at = at or self.now()
        row: Row = dict.fromkeys(spec.columns)
        row.update(spec.defaults)
        row.update({key: value for key, value in values.items() if value is not None})
        row["id"] = values.get("id") or self.next_id(table)
        row.update(_created=at, _updated=at, _etag=self._etag())
        if "entityId" in row:
            self._entity_ids += 1
            row["entityId"] = self._entity_ids
        if "createdById" in row:
            row.update(createdById=_ACTOR_ID, updatedById=_ACTOR_ID)
        self.tables[table][row["id"]] = row
        self._writes[table] += 1
        return row

    def update(self, table: str, row_id: int, values: Row, etag: str | None = None) -> Row:
        """Apply `values` raw; return the row as it was. No change, no write (etag kept)."""
        row = self.get(table, row_id)
        self.check_etag(table, row, etag)
        before = dict(row)
        changed = {key: value for key, value in values.items() if row.get(key) != value}
        if changed:
            row.update(changed)
            row.update(_updated=self.now(), _etag=self._etag())
            self._writes[table] += 1
        return before

    def touch(self, table: str, row_id: int, etag: str | None = None) -> None:
        """A write that changes no column (e.g. a header attached): new etag and `_updated`."""
        row = self.get(table, row_id)
        self.check_etag(table, row, etag)
        row.update(_updated=self.now(), _etag=self._etag())
        self._writes[table] += 1

    def delete(self, table: str, row_id: int, etag: str | None = None) -> Row:
        row = self.get(table, row_id)
        self.check_etag(table, row, etag)
        self._writes[table] += 1
        return self.tables[table].pop(row_id)

    def check_etag(self, table: str, row: Row, etag: str | None) -> None:
        if etag is not None and etag != row["_etag"]:
            raise StaleEtag(
                f"etag {etag!r} does not match the current etag of "
                f"{TABLES[table].typename} {row['id']}; fetch it again and retry"
            )

    def _etag(self) -> str:
        return f"{self._rng.getrandbits(128):032x}"
