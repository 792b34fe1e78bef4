"""Reading: the query root fields, the relations between objects and the computed fields.

Objects handed to GraphQL are *views*: the stored row plus the fields ION computes on read
(`isOpen`, `prettyStr`, ...). A relation's resolver finds the table from the parent type's name.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import Any

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    get_named_type,
)

from bridge.sandbox.ion import filters
from bridge.sandbox.ion.tables import (
    HEADERS,
    LOCATIONS,
    PARTS,
    PURCHASE_ORDER_LINES,
    PURCHASE_ORDERS,
    RECEIVERS,
    SUBSCRIPTIONS,
    TABLE_OF_TYPE,
    TABLES,
)
from bridge.sandbox.ion.world import Invalid, IonWorld, Row

Resolver = Callable[..., Any]
_OPEN = frozenset({"DRAFT", "REQUESTED", "APPROVED", "ORDERED"})
_APPROVED = frozenset({"APPROVED", "ORDERED", "RECEIVED"})


def parse_id(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Invalid(f"invalid id {value!r}") from None


def view(table: str, row: Row) -> dict[str, Any]:
    """The row plus the fields ION computes on read."""
    out = dict(row)
    if table == PURCHASE_ORDERS:
        out.update(
            isOpen=row["status"] in _OPEN,
            approved=row["status"] in _APPROVED,
            estimatedArrival=row["estimatedArrivalDate"],
            prettyStr=f"PO-{row['id']}",
        )
    elif table == PURCHASE_ORDER_LINES:
        cost, quantity = row["cost"], row["quantity"]
        out.update(
            isOpen=row["status"] in _OPEN,
            estimatedCost=None if cost is None or quantity is None else cost * quantity,
            receivedQuantity=quantity if row["status"] == "RECEIVED" else 0.0,
            prettyStr=f"PO-{row['purchaseOrderId']} line {row['id']}",
        )
    elif table == PARTS:
        out.update(
            latestRevision=row["revision"],
            isLatestRevision=True,
            prettyStr=f"{row['partNumber']} rev {row['revision']}",
        )
    elif table == SUBSCRIPTIONS:
        out["prettyStr"] = f"{row['resource']} {row['action']}"
    else:
        out["prettyStr"] = str(row.get("name") or row.get("key") or row["id"])
    return out


def related(world: IonWorld, table: str, row: Row, name: str) -> list[tuple[str, Row]] | None:
    """The rows a relation field leads to; None when the stand-in does not model it."""
    spec = TABLES[table]
    link, backref = spec.link(name), spec.backref(name)
    if link is not None:
        target = world.find(link.target, row[link.column])
        return [] if target is None else [(link.target, target)]
    if backref is not None:
        rows = world.rows(backref.target)
        return [(backref.target, r) for r in rows if r[backref.column] == row["id"]]
    if (table, name) == (LOCATIONS, "allParents"):
        return [(LOCATIONS, r) for r in _chain(world, row, up=True)]
    if (table, name) == (LOCATIONS, "allChildren"):
        return [(LOCATIONS, r) for r in _chain(world, row, up=False)]
    if (table, name) == (RECEIVERS, "headers"):
        ids = world.receiver_headers.get(row["id"], [])
        return [(HEADERS, world.get(HEADERS, header_id)) for header_id in ids]
    if (table, name) == (HEADERS, "webhookReceivers"):
        owners = [rid for rid, ids in world.receiver_headers.items() if row["id"] in ids]
        return [(RECEIVERS, world.get(RECEIVERS, rid)) for rid in owners]
    return None


def _chain(world: IonWorld, row: Row, *, up: bool) -> list[Row]:
    """Ancestors (nearest first) or all descendants of a location; cycles are cut."""
    seen = {row["id"]}
    out: list[Row] = []
    frontier = [row]
    while frontier:
        current = frontier.pop(0)
        if up:
            nxt = [p for p in [world.find(LOCATIONS, current["parentId"])] if p is not None]
        else:
            nxt = [r for r in world.rows(LOCATIONS) if r["parentId"] == current["id"]]
        for candidate in nxt:
            if candidate["id"] not in seen:
                seen.add(candidate["id"])
                out.append(candidate)
                frontier.append(candidate)
    return out


class RowNode:
    """A row as the filter functions see it."""

    def __init__(self, world: IonWorld, table: str, row: Row) -> None:
        self.world, self.table, self.row = world, table, row

    @cached_property
    def view(self) -> dict[str, Any]:
        return view(self.table, self.row)

    def value(self, name: str) -> Any:
        return self.row[name] if name in self.row else self.view.get(name)

    def related(self, name: str) -> Sequence[RowNode]:
        rows = related(self.world, self.table, self.row, name) or []
        return [RowNode(self.world, table, row) for table, row in rows]


def _world(info: GraphQLResolveInfo) -> IonWorld:
    world: IonWorld = info.context.world
    return world


def _one(table: str) -> Resolver:
    def resolve(_root: Any, info: GraphQLResolveInfo, id: Any) -> dict[str, Any]:
        return view(table, _world(info).get(table, parse_id(id)))

    return resolve


def _collection(table: str) -> Resolver:
    def resolve(_root: Any, info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
        world = _world(info)
        # GraphQL lets list items be null; ION ignores them.
        distinct_on = [name for name in args.get("distinctOn") or [] if name]
        sort = [name for name in args.get("sort") or [] if name]
        first = args.get("first")
        key = filters.keyset_key(sort)
        plain = not distinct_on and all(args.get(a) is None for a in ("after", "last", "before"))
        if plain and key is not None and first is not None and first >= 0:
            return keyset_page(world, table, key, args.get("filters"), first)
        return sorted_page(world, table, {**args, "distinctOn": distinct_on, "sort": sort})

    return resolve


def sorted_page(world: IonWorld, table: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Any page of a collection: every row filtered, sorted, made distinct, then sliced."""
    nodes = [RowNode(world, table, row) for row in world.rows(table)]
    nodes = [node for node in nodes if filters.matches(node, args.get("filters"))]
    distinct_on = args.get("distinctOn") or []
    nodes = filters.order(nodes, [*distinct_on, *(args.get("sort") or [])])
    nodes = filters.distinct(nodes, distinct_on)
    page = filters.page(
        len(nodes),
        first=args.get("first"),
        after=args.get("after"),
        last=args.get("last"),
        before=args.get("before"),
    )
    edges = [
        {"cursor": filters.cursor(i), "node": nodes[i].view} for i in range(page.start, page.stop)
    ]
    return {"pageInfo": page.info(), "edges": edges}


def keyset_page(
    world: IonWorld, table: str, key: str, where: Mapping[str, Any] | None, first: int
) -> dict[str, Any]:
    """The first `first` rows in (`key`, id) order that match `where`, as ION's index would find
    them: from the position the filter's lower bound gives, not from row one. The same answer as
    sorting every match (tests hold the two equal); `totalCount` is counted only when asked for.
    What a keyset walk asks for, so a walk of N rows costs O(N) here, not O(N²)."""

    def matching() -> Iterator[RowNode]:
        keys, rows = world.ordered(table, key)
        try:
            bound = filters.lower_bound(where, key)
            start = 0 if bound is None else bisect_left(keys, bound)
        except TypeError:  # an operand that does not compare with the column: look at all
            start = 0
        for index in range(start, len(rows)):
            node = RowNode(world, table, rows[index])
            if filters.matches(node, where):
                yield node

    found: list[RowNode] = []
    for node in matching():
        if len(found) > first:
            break
        found.append(node)
    shown = found[:first]
    return {
        "pageInfo": {
            "hasNextPage": len(found) > first,
            "hasPreviousPage": False,
            "startCursor": filters.cursor(0) if shown else None,
            "endCursor": filters.cursor(len(shown) - 1) if shown else None,
            "count": len(shown),
            "totalCount": lambda _info: sum(1 for _ in matching()),
        },
        "edges": [{"cursor": filters.cursor(i), "node": n.view} for i, n in enumerate(shown)],
    }


def _relation(source: dict[str, Any], info: GraphQLResolveInfo, **args: Any) -> Any:
    table = TABLE_OF_TYPE[info.parent_type.name].name
    found = related(_world(info), table, source, info.field_name) or []
    nodes = [RowNode(_world(info), t, row) for t, row in found]
    views = [node.view for node in nodes if filters.matches(node, args.get("filters"))]
    return_type = info.return_type
    if isinstance(return_type, GraphQLNonNull):
        return_type = return_type.of_type
    if isinstance(return_type, GraphQLList):
        return views
    return views[0] if views else None


def _count(source: dict[str, Any], info: GraphQLResolveInfo) -> int:
    """`_PurchaseOrderLinesCount` counts `purchaseOrderLines`; unmodelled relations count 0."""
    stem = info.field_name[1 : -len("Count")]
    table = TABLE_OF_TYPE[info.parent_type.name].name
    return len(related(_world(info), table, source, stem[:1].lower() + stem[1:]) or [])


def object_type(type_: Any) -> GraphQLObjectType:
    named = get_named_type(type_)
    if not isinstance(named, GraphQLObjectType):
        raise TypeError(f"{named} is not an object type")
    return named


def wire(schema: GraphQLSchema) -> None:
    """Attach the read resolvers to the query root and to every modelled object type."""
    for field in object_type(schema.query_type).fields.values():
        target = object_type(field.type)
        if "filters" in field.args:  # a connection: edges { node }
            node = object_type(object_type(target.fields["edges"].type).fields["node"].type)
            field.resolve = _collection(TABLE_OF_TYPE[node.name].name)
        else:
            field.resolve = _one(TABLE_OF_TYPE[target.name].name)
    for typename in TABLE_OF_TYPE:
        for name, field in object_type(schema.get_type(typename)).fields.items():
            if isinstance(get_named_type(field.type), GraphQLObjectType):
                field.resolve = _relation
            elif name.startswith("_") and name.endswith("Count"):
                field.resolve = _count
