"""Keyset walking: filters built from positions, never offsets; cursors with an overlap."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.errors import IonRejected
from bridge.reconcile.catalog import SPECS, resolve
from bridge.reconcile.cursors import CursorState, covered, newest
from bridge.reconcile.walk import Position, keyset_filter, pages, sort_for, walk_start

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_keyset_filter_echoes_ion_timestamp_and_breaks_ties_by_id() -> None:
    """After (T, 7): rows with a later timestamp, or the same one and a larger id."""
    after = Position(at=T0, id=7, raw="2026-11-22T10:00:00.123456+00:00")
    built = keyset_filter("_updated", since=T0, after=after)
    assert built == {
        "and_": [
            {"_updated": {"gte": "2026-11-22T10:00:00.000000+00:00"}},
            {
                "or_": [
                    {"_updated": {"gt": after.raw}},
                    {"and_": [{"_updated": {"eq": after.raw}}, {"id": {"gt": 7}}]},
                ]
            },
        ]
    }
    assert keyset_filter(None, after=after, base={"id": {"in": [1]}}) == {
        "and_": [{"id": {"in": [1]}}, {"id": {"gt": 7}}]
    }
    assert keyset_filter("_updated") == {}
    assert sort_for("_created") == ["_CREATED_ASC", "ID_ASC"]


def test_walk_start_subtracts_the_overlap_and_cursors_never_go_back() -> None:
    """The walk starts overlap seconds before the cursor; a stored cursor only moves forward."""
    assert walk_start(T0, 300) == T0 - timedelta(seconds=300)
    assert walk_start(None, 300) is None
    early, late = Position(at=T0, id=1), Position(at=T0, id=2)
    assert newest(CursorState(position=late), early) == late
    assert newest(CursorState(position=None), early) == early
    assert newest(None, None) is None


class FakeIon:
    """Serves rows sorted by (_updated, id), honouring only the keyset filter's id/time parts."""

    def __init__(self, rows: list[dict[str, Any]], *, ignore_filter: bool = False) -> None:
        self.rows = rows
        self.ignore_filter = ignore_filter
        self.calls: list[dict[str, Any]] = []

    async def execute(
        self, operation: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        assert variables is not None
        self.calls.append(variables)
        rows = self.rows
        after = _after(variables["filters"])
        if after is not None and not self.ignore_filter:
            rows = [r for r in rows if (r["_updated"], r["id"]) > after]
        chosen = rows[: variables["first"]]
        return {
            "purchaseOrders": {
                "pageInfo": {"hasNextPage": len(rows) > len(chosen)},
                "edges": [{"node": row} for row in chosen],
            }
        }


def _after(filters: dict[str, Any]) -> tuple[str, int] | None:
    for part in filters.get("and_", [filters]):
        if "or_" in part:
            tie = part["or_"][1]["and_"]
            return tie[0]["_updated"]["eq"], tie[1]["id"]["gt"]
    return None


def _rows(n: int) -> list[dict[str, Any]]:
    # Three rows share each timestamp, so pages end in the middle of a tie.
    return [
        {"id": i, "_updated": (T0 + timedelta(seconds=i // 3)).isoformat()} for i in range(1, n + 1)
    ]


def test_pages_walk_every_row_once_across_ties() -> None:
    """A keyset walk returns each row exactly once even when pages split equal timestamps."""

    async def walk() -> list[int]:
        seen: list[int] = []
        async for objects, _ in pages(
            FakeIon(_rows(10)), SPECS["PURCHASE_ORDERS"], key="_updated", page_size=4
        ):
            seen.extend(o["id"] for o in objects)
        return seen

    assert asyncio.run(walk()) == list(range(1, 11))


def test_a_server_ignoring_the_keyset_stops_the_walk() -> None:
    """If ION returned the same rows again the walk would loop; it raises instead."""

    async def walk() -> None:
        ion = FakeIon(_rows(10), ignore_filter=True)
        async for _ in pages(ion, SPECS["PURCHASE_ORDERS"], key="_updated", page_size=4):
            pass

    with pytest.raises(IonRejected):
        asyncio.run(walk())


def test_resolve_orders_linked_resources_first_and_names_bad_ones() -> None:
    """Configured names in either spelling resolve to walk order; unknown names are refused."""
    assert resolve(["PURCHASE_ORDER", "LOCATIONS"], setting="X") == ["LOCATIONS", "PURCHASE_ORDERS"]
    with pytest.raises(Exception, match="RUNS"):
        resolve(["RUNS"], setting="X")


def test_an_empty_walk_from_since_still_covers_since() -> None:
    """A `--since` walk that finds nothing records `since`, so the next run does not walk it all."""
    since = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    last = Position(at=since + timedelta(minutes=5), id=7)
    assert covered(None, since) == Position(at=since, id=0)
    assert covered(last, since) == last
    assert covered(None, None) is None  # a first walk of an empty resource: nothing seen yet
    assert newest(CursorState(position=last), covered(None, since)) == last
