"""A scripted day of ION activity, played as ION users through the stand-in's real API.

Suppliers, locations and parts appear; purchase orders are raised (some with fields left empty),
get lines, have their empty fields filled in later, change ship-to location and move through
their statuses; locations get new addresses, suppliers new names, parts new descriptions. That mix
exercises each of ION's four webhook limitations. Every choice comes from `random.Random(seed)`
and ids are handed out in order, so one seed always produces the same final data in ION.

At full speed the whole day takes seconds, so a field is always filled in moments after the
object was created: to a bridge, that looks like ION's own late fields. `late_fills` adds, after
a pause of `late_after` seconds, that many fills of fields still empty: a user coming back to an
order later in the day (the empty → populated gap proper).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from typing import Any

import httpx
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport

from bridge.resources import graphql_document

TOKEN_PATH = "/realms/api-keys/protocol/openid-connect/token"  # noqa: S105 -- a URL path
_UPDATE_ATTEMPTS = 8
STATUSES = ("DRAFT", "REQUESTED", "APPROVED", "ORDERED", "RECEIVED")


def load_document(name: str) -> str:
    """The GraphQL operation `name` (the scenario's documents live in `graphql/sandbox/`)."""
    return graphql_document(name)


@cache
def _parsed(name: str) -> Any:
    """The document parsed once: parsing costs more than a loopback round trip."""
    return GraphQLRequest(load_document(name)).document


@dataclass(frozen=True, kw_only=True)
class DayReport:
    counts: dict[str, int]
    operations: int
    retries: int  # updates repeated after a stale-etag refusal
    seconds: float


async def fetch_token(http: httpx.AsyncClient, ion_url: str, client_id: str, secret: str) -> str:
    """An access token from the stand-in's OAuth endpoint (client_credentials grant)."""
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    answer = await http.post(f"{ion_url.rstrip('/')}{TOKEN_PATH}", data=form)
    answer.raise_for_status()
    return str(answer.json()["access_token"])


@dataclass(kw_only=True)
class _Obj:
    """What a user remembers about an object: its id, current etag and the fields that matter."""

    id: int
    etag: str = ""
    fields: dict[str, Any] = field(default_factory=dict)


class _Ion:
    """The user's side of ION: GraphQL mutations with etag upkeep, and the parts routes."""

    def __init__(self, session: Any, http: httpx.AsyncClient, ion_url: str) -> None:
        self.session = session
        self.http = http
        self.url = ion_url.rstrip("/")
        self.retries = 0

    async def run(self, operation: str, variables: dict[str, Any]) -> dict[str, Any]:
        request = GraphQLRequest(_parsed(operation), variable_values=variables)
        result: dict[str, Any] = await self.session.execute(request)
        return result

    async def create(self, typename: str, values: dict[str, Any]) -> _Obj:
        result = await self.run(f"ScenarioCreate{typename}", {"input": values})
        node = next(iter(result.values()))[_lower_first(typename)]
        fields = {**values, **{k: v for k, v in node.items() if k not in ("id", "_etag")}}
        return _Obj(id=int(node["id"]), etag=str(node["_etag"]), fields=fields)

    async def update(self, typename: str, obj: _Obj, values: dict[str, Any]) -> None:
        """Update with the etag we hold; when someone else wrote first, re-read it and retry.

        Usually one retry does it. Several are allowed because ION's own follow-up writes (roll-ups,
        late fields) can land between our re-read and our retry, as with a busy human colleague.
        """
        for attempt in range(_UPDATE_ATTEMPTS):
            try:
                await self._update(typename, obj, values)
                break
            except TransportQueryError as exc:
                if "etag" not in str(exc).lower() or attempt == _UPDATE_ATTEMPTS - 1:
                    raise
                self.retries += 1
                current = await self.run(f"Scenario{typename}Etag", {"id": obj.id})
                obj.etag = str(current[_lower_first(typename)]["_etag"])
        obj.fields.update(values)

    async def _update(self, typename: str, obj: _Obj, values: dict[str, Any]) -> None:
        payload = {**values, "id": obj.id, "etag": obj.etag}
        result = await self.run(f"ScenarioUpdate{typename}", {"input": payload})
        obj.etag = str(next(iter(result.values()))[_lower_first(typename)]["_etag"])

    async def create_part(self, values: dict[str, Any]) -> _Obj:
        answer = await self.http.post(f"{self.url}/_sandbox/parts", json=values)
        answer.raise_for_status()
        return _Obj(id=int(answer.json()["id"]), fields=dict(values))

    async def patch_part(self, part: _Obj, values: dict[str, Any]) -> None:
        answer = await self.http.patch(f"{self.url}/_sandbox/parts/{part.id}", json=values)
        answer.raise_for_status()
        part.fields.update(values)


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _empty(obj: _Obj, names: tuple[str, ...]) -> list[str]:
    return [name for name in names if obj.fields.get(name) is None]


def _open(objs: list[_Obj]) -> list[_Obj]:
    return [obj for obj in objs if obj.fields["status"] != "RECEIVED"]


class _Day:
    """The users' choices, drawn from `rng` and from what ION answered (ids, a line's status)."""

    def __init__(self, ion: _Ion, rng: random.Random) -> None:
        self.ion = ion
        self.rng = rng
        self.suppliers: list[_Obj] = []
        self.locations: list[_Obj] = []
        self.parts: list[_Obj] = []
        self.orders: list[_Obj] = []
        self.lines: list[_Obj] = []

    def choose(self) -> str:
        """The next kind of operation, weighted, among those possible right now."""
        # Orders and lines pick suppliers, locations and parts: have one of each first.
        for kind, pool in (
            ("create_supplier", self.suppliers),
            ("create_location", self.locations),
            ("create_part", self.parts),
        ):
            if not pool:
                return kind
        possible = {kind: weight for kind, weight in _WEIGHTS.items() if self._possible(kind)}
        return self.rng.choices(list(possible), weights=list(possible.values()))[0]

    def choose_fill(self) -> str | None:
        """`fill_order` or `fill_line`, weighted as in the day; None when nothing is empty."""
        possible = {k: _WEIGHTS[k] for k in ("fill_order", "fill_line") if self._possible(k)}
        if not possible:
            return None
        return self.rng.choices(list(possible), weights=list(possible.values()))[0]

    def _possible(self, kind: str) -> bool:
        needs = {
            "add_line": self.orders,
            "fill_order": [o for o in self.orders if _empty(o, _ORDER_FILLABLE)],
            "fill_line": [li for li in self.lines if _empty(li, _LINE_FILLABLE)],
            "change_ship_to": self.orders if len(self.locations) > 1 else [],
            "advance_order_status": _open(self.orders),
            "advance_line_status": _open(self.lines),
            "change_line_quantity": self.lines,
        }
        return bool(needs.get(kind, True))

    def _maybe(self, chance: float, value: Any) -> Any:
        return value if self.rng.random() < chance else None

    def _date(self) -> str:
        day = date(2026, 12, 1) + timedelta(days=self.rng.randint(0, 90))
        return f"{day.isoformat()}T00:00:00Z"

    def _address(self) -> str:
        street = self.rng.choice(("Main St", "Harbor Rd", "Mill Ln", "Quay St", "Airfield Way"))
        return f"{self.rng.randint(1, 999)} {street}"

    async def play(self, kind: str) -> None:
        await getattr(self, f"_{kind}")()

    async def _create_supplier(self) -> None:
        n = len(self.suppliers) + 1
        values = {"name": f"Supplier {n}", "address": self._maybe(0.6, self._address())}
        self.suppliers.append(await self.ion.create("Supplier", values))

    async def _create_location(self) -> None:
        n = len(self.locations) + 1
        values = {"name": f"Dock {n}", "address": self._maybe(0.5, self._address())}
        self.locations.append(await self.ion.create("Location", values))

    async def _create_part(self) -> None:
        n = len(self.parts) + 1
        rev = self.rng.choice("ABC")
        values = {"partNumber": f"PN-{n:04d}", "revision": rev, "description": f"Part {n}"}
        self.parts.append(await self.ion.create_part(values))

    async def _create_order(self) -> None:
        supplier = self._maybe(0.6, self.rng.choice(self.suppliers))
        ship_to = self._maybe(0.5, self.rng.choice(self.locations))
        values = {
            "description": self._maybe(0.5, f"Order {len(self.orders) + 1}"),
            "supplierId": supplier.id if supplier else None,
            "shipToLocationId": ship_to.id if ship_to else None,
            "status": "DRAFT",
        }
        self.orders.append(await self.ion.create("PurchaseOrder", values))

    async def _add_line(self) -> None:
        order = self.rng.choice(self.orders)
        part = self._maybe(0.7, self.rng.choice(self.parts))
        values = {
            "purchaseOrderId": order.id,
            "partId": part.id if part else None,
            "quantity": float(self.rng.randint(1, 50)),
            "cost": self._maybe(0.5, self.rng.randint(100, 99999) / 100),
            "needDate": self._maybe(0.5, self._date()),
            "estimatedArrivalDate": self._maybe(0.3, self._date()),
        }
        self.lines.append(await self.ion.create("PurchaseOrderLine", values))

    async def _fill_order(self) -> None:
        order = self.rng.choice([o for o in self.orders if _empty(o, _ORDER_FILLABLE)])
        values = {name: self._fill(name) for name in _empty(order, _ORDER_FILLABLE)}
        await self.ion.update("PurchaseOrder", order, values)

    async def _fill_line(self) -> None:
        line = self.rng.choice([li for li in self.lines if _empty(li, _LINE_FILLABLE)])
        values = {name: self._fill(name) for name in _empty(line, _LINE_FILLABLE)}
        await self.ion.update("PurchaseOrderLine", line, values)

    def _fill(self, name: str) -> Any:
        """A value for a field left empty at creation (empty -> populated)."""
        pools = {"supplierId": self.suppliers, "shipToLocationId": self.locations}
        if name in pools or name == "partId":
            return self.rng.choice(pools.get(name, self.parts)).id
        if name == "cost":
            return self.rng.randint(100, 99999) / 100
        if name == "description":
            return f"Order notes {self.rng.randint(1, 999)}"
        return self._date()

    async def _change_ship_to(self) -> None:
        order = self.rng.choice(self.orders)
        choices = [loc for loc in self.locations if loc.id != order.fields["shipToLocationId"]]
        values = {"shipToLocationId": self.rng.choice(choices).id}
        await self.ion.update("PurchaseOrder", order, values)

    async def _edit_location_address(self) -> None:
        location = self.rng.choice(self.locations)
        await self.ion.update("Location", location, {"address": self._address()})

    async def _rename_supplier(self) -> None:
        supplier = self.rng.choice(self.suppliers)
        suffix = self.rng.choice(("Ltd", "Inc", "GmbH"))
        name = f"{supplier.fields['name'].split(' (')[0]} ({suffix})"
        await self.ion.update("Supplier", supplier, {"name": name})

    async def _advance_order_status(self) -> None:
        await self._advance("PurchaseOrder", self.orders)

    async def _advance_line_status(self) -> None:
        await self._advance("PurchaseOrderLine", self.lines)

    async def _advance(self, typename: str, objs: list[_Obj]) -> None:
        obj = self.rng.choice(_open(objs))
        status = STATUSES[STATUSES.index(obj.fields["status"]) + 1]
        await self.ion.update(typename, obj, {"status": status})

    async def _edit_part_description(self) -> None:
        part = self.rng.choice(self.parts)
        values = {"description": f"Part {part.id} rev {self.rng.randint(2, 9)}"}
        await self.ion.patch_part(part, values)

    async def _change_line_quantity(self) -> None:
        line = self.rng.choice(self.lines)
        values = {"quantity": float(self.rng.randint(1, 80))}
        await self.ion.update("PurchaseOrderLine", line, values)


_ORDER_FILLABLE = ("description", "supplierId", "shipToLocationId")
_LINE_FILLABLE = ("cost", "needDate", "estimatedArrivalDate", "partId")
#: How often each kind of operation comes up, among those possible at the time.
_WEIGHTS = {"create_supplier": 4, "create_location": 5, "create_part": 5, "create_order": 12}
_WEIGHTS |= {"add_line": 18, "fill_order": 8, "fill_line": 10, "change_ship_to": 6}
_WEIGHTS |= {"edit_location_address": 6, "rename_supplier": 4, "edit_part_description": 4}
_WEIGHTS |= {"advance_order_status": 10, "advance_line_status": 5, "change_line_quantity": 3}


async def play_day(
    ion_url: str,
    *,
    client_id: str,
    client_secret: str,
    seed: int = 7,
    operations: int = 300,
    pause: float = 0.0,
    late_fills: int = 0,
    late_after: float = 0.0,
) -> DayReport:
    """Play `operations` user actions against the ION stand-in, then `late_fills` fills of
    fields left empty, `late_after` seconds later; the same seed, the same data."""
    started = time.monotonic()
    counts: Counter[str] = Counter()
    async with httpx.AsyncClient(timeout=30) as http:
        token = await fetch_token(http, ion_url, client_id, client_secret)
        transport = HTTPXAsyncTransport(
            url=f"{ion_url.rstrip('/')}/graphql", headers={"Authorization": f"Bearer {token}"}
        )
        async with Client(transport=transport, execute_timeout=30) as session:
            ion = _Ion(session, http, ion_url)
            day = _Day(ion, random.Random(seed))
            for _ in range(operations):
                kind = day.choose()
                await day.play(kind)
                counts[kind] += 1
                if pause:
                    await asyncio.sleep(pause)
            if late_fills:
                await asyncio.sleep(late_after)
            for _ in range(late_fills):
                fill = day.choose_fill()
                if fill is None:
                    break
                await day.play(fill)
                counts[f"later: {fill}"] += 1
    return DayReport(
        counts=dict(sorted(counts.items())),
        operations=sum(counts.values()),
        retries=ion.retries,
        seconds=time.monotonic() - started,
    )
