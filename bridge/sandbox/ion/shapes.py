"""A row in the shapes the outside world sees it in.

Two shapes: ION's GraphQL shape (camelCase, enum names upper-case, linked objects embedded) used
by the truth and by embedded links; and the database shape ION's webhook bodies carry (snake_case
columns, lower-case enum values, links as `*_id` foreign keys).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bridge.sandbox.ion.tables import TABLES, Link
from bridge.sandbox.ion.world import IonWorld, Row
from bridge.sandbox.tracked import snake

#: Columns every write changes; listing them in `changes` would only add noise.
_BOOKKEEPING = frozenset({"_updated", "_etag", "updatedById"})


def iso(value: datetime) -> str:
    """ISO-8601 with microseconds always present, so timestamps also sort as text."""
    return value.isoformat(timespec="microseconds")


def jsonable(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else value


def graphql_shape(world: IonWorld, table: str, row: Row, *, links: bool = True) -> dict[str, Any]:
    """The row in GraphQL shape: its columns plus its links embedded one level deep."""
    spec = TABLES[table]
    out = {column: jsonable(row[column]) for column in spec.columns}
    for link in spec.links if links else ():
        target = world.find(link.target, row[link.column])
        out[link.field] = target and graphql_shape(world, link.target, target, links=False)
    return out


def embedded(world: IonWorld, link: Link, target_id: int | None) -> dict[str, Any] | None:
    """The linked object as a webhook body embeds it (a few fields, GraphQL shape)."""
    target = world.find(link.target, target_id)
    if target is None:
        return None
    return {name: jsonable(target[name]) for name in TABLES[link.target].embed}


def _db_value(table: str, column: str, value: Any) -> Any:
    if column in TABLES[table].enums and isinstance(value, str):
        return value.lower()
    return jsonable(value)


def row_data(world: IonWorld, table: str, row: Row, *, with_links: bool) -> dict[str, Any]:
    """A webhook body's `data`: the row, plus the embedded links when `with_links`."""
    out = {snake(column): _db_value(table, column, row[column]) for column in TABLES[table].columns}
    if with_links:
        for link in TABLES[table].links:
            if link.embedded:
                out[link.field] = embedded(world, link, row[link.column])
    return out


def _is_empty(value: Any) -> bool:
    return value is None or value == ""


def row_changes(
    world: IonWorld,
    table: str,
    before: Row,
    after: Row,
    *,
    drop_empty_to_populated: bool,
    with_links: bool,
) -> dict[str, Any]:
    """A webhook body's `changes`: `{column: {"old", "new"}}` for every column that changed.

    With `drop_empty_to_populated`, a value going from empty to populated is left out (ION's
    second limitation); with `with_links`, a changed foreign key also reports the linked object.
    """
    out: dict[str, Any] = {}
    for column in TABLES[table].columns:
        old, new = before.get(column), after.get(column)
        if old == new or column in _BOOKKEEPING:
            continue
        out[snake(column)] = {
            "old": _db_value(table, column, old),
            "new": _db_value(table, column, new),
        }
    if with_links:
        for link in TABLES[table].links:
            old_id, new_id = before.get(link.column), after.get(link.column)
            if link.embedded and old_id != new_id:
                out[link.field] = {
                    "old": embedded(world, link, old_id),
                    "new": embedded(world, link, new_id),
                }
    if drop_empty_to_populated:
        out = {
            key: change
            for key, change in out.items()
            if not (_is_empty(change["old"]) and not _is_empty(change["new"]))
        }
    return out


def referrers(world: IonWorld, table: str, row_id: int) -> list[tuple[str, Row, Link]]:
    """Rows of other tables that embed this row through a link, with the link."""
    out: list[tuple[str, Row, Link]] = []
    for other in TABLES.values():
        for link in other.links:
            if link.embedded and link.target == table:
                out.extend(
                    (other.name, row, link)
                    for row in world.rows(other.name)
                    if row[link.column] == row_id
                )
    return out
