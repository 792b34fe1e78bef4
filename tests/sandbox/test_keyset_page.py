"""The stand-in's keyset pages (from the filter's lower bound in a sorted copy of the table) are
the same as sorting every matching row — for the filters a keyset walk sends and any others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.reconcile.walk import sort_for
from bridge.sandbox.ion import IonWorld, Limitations, filters
from bridge.sandbox.ion.filters import keyset_key, lower_bound
from bridge.sandbox.ion.resolvers import keyset_page, sorted_page
from bridge.sandbox.ion.tables import PURCHASE_ORDERS

T0 = datetime(2026, 11, 1, tzinfo=UTC)
STATUSES = ("DRAFT", "ORDERED", "RECEIVED")


def at(step: int) -> datetime:
    return T0 + timedelta(seconds=step)


def world_of(stamps: list[tuple[int, int]]) -> IonWorld:
    """Orders created at `stamps[i][0]` seconds, each with a status; many share a second."""
    world = IonWorld(limitations=Limitations())
    for step, status in stamps:
        world.insert(PURCHASE_ORDERS, {"status": STATUSES[status]}, at=at(step))
    return world


def keyset(
    key: str, since: datetime | None, after: tuple[datetime, int] | None
) -> list[dict[str, Any]]:
    """The walk's filter (`bridge.reconcile.walk.keyset_filter`) with parsed operands."""
    parts: list[dict[str, Any]] = []
    if since is not None:
        parts.append({key: {"gte": since}})
    if after is not None:
        if key == "id":
            parts.append({"id": {"gt": str(after[1])}})
        else:
            parts.append(
                {
                    "or_": [
                        {key: {"gt": after[0]}},
                        {"and_": [{key: {"eq": after[0]}}, {"id": {"gt": str(after[1])}}]},
                    ]
                }
            )
    return parts


extras = st.sampled_from(
    [
        {},
        {"status": {"in": ["ORDERED"]}},
        {"_updated": {"lte": at(20)}},
        {"_created": {"gt": at(10)}},
        {"id": {"gte": "7"}},
        {"or_": [{"status": {"eq": "DRAFT"}}, {"id": {"lt": 5}}]},
        {"or_": []},
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    stamps=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 2)), max_size=40),
    edits=st.lists(st.tuples(st.integers(1, 40), st.integers(0, 2)), max_size=10),
    key=st.sampled_from(["_updated", "_created", "id"]),
    extra=extras,
    first=st.integers(0, 12),
    data=st.data(),
)
def test_a_keyset_page_equals_the_sorted_page(
    stamps: list[tuple[int, int]],
    edits: list[tuple[int, int]],
    key: str,
    extra: dict[str, Any],
    first: int,
    data: st.DataObject,
) -> None:
    world = world_of(stamps)
    world.ordered(PURCHASE_ORDERS, key)  # sorted before the edits: they must be seen anyway
    for row_id, status in edits:
        if world.find(PURCHASE_ORDERS, row_id) is not None:
            world.update(PURCHASE_ORDERS, row_id, {"status": STATUSES[status]})
    # Positions: mostly where a walk would stand (on a row), sometimes anywhere.
    rows = world.rows(PURCHASE_ORDERS)
    stamp = st.integers(0, 35).map(at)
    if rows:
        stamp |= st.sampled_from(rows).map(lambda row: row[key] if key != "id" else T0)
    since = data.draw(st.none() | stamp)
    after = data.draw(
        st.none()
        | st.tuples(stamp, st.integers(0, 41))
        | (
            st.sampled_from(rows).map(lambda row: (row.get(key, T0), row["id"]))
            if rows
            else st.none()
        )
    )
    if key == "id" and after is not None:
        after = (T0, after[1])
    parts = [p for p in [extra, *keyset(key, since, after)] if p]
    where = {"and_": parts} if parts else None
    sort = sort_for(None if key == "id" else key)
    assert keyset_key(sort) == key
    fast = keyset_page(world, PURCHASE_ORDERS, key, where, first)
    slow = sorted_page(world, PURCHASE_ORDERS, {"filters": where, "sort": sort, "first": first})
    assert [e["node"]["id"] for e in fast["edges"]] == [e["node"]["id"] for e in slow["edges"]]
    assert fast["edges"] == slow["edges"]
    total = fast["pageInfo"].pop("totalCount")(None)
    expected = slow["pageInfo"]
    assert total == expected.pop("totalCount")
    assert fast["pageInfo"] == expected


def test_the_walks_bound_skips_what_the_walk_has_seen() -> None:
    """`_updated > t OR (_updated = t AND id > n)` starts right after (t, n)."""
    where = {"and_": keyset("_updated", at(0), (at(5), 3))}
    assert lower_bound(where, "_updated") == (at(5), 4)
    assert lower_bound({"and_": keyset("id", None, (T0, 9))}, "id")[0] == 10  # type: ignore[index]
    assert lower_bound({"status": {"eq": "DRAFT"}}, "_updated") is None
    assert (
        lower_bound({"or_": [{"_updated": {"gt": at(1)}}, {"id": {"gt": "2"}}]}, "_updated") is None
    )


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ([], "id"),
        (["ID_ASC"], "id"),
        (["_UPDATED_ASC", "ID_ASC"], "_updated"),
        (["_CREATED_ASC"], "_created"),
        (["_UPDATED_DESC", "ID_ASC"], None),
        (["STATUS_ASC", "ID_ASC"], None),
        (["_UPDATED_ASC", "STATUS_ASC"], None),
    ],
)
def test_only_an_ascending_timestamp_or_id_order_is_a_keyset(
    sort: list[str], key: str | None
) -> None:
    assert keyset_key(sort) == key


def test_a_full_walk_of_a_big_table_looks_at_each_row_about_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A walk by (_updated, id) in pages of 100 over 5,000 rows: every row once, in order, and
    about one row looked at per row returned (sorting every match per page: 50 × 5,000)."""
    world = world_of([(n // 3, n % 3) for n in range(5_000)])
    calls = 0
    real = filters.matches
    where: dict[str, Any] | None = None

    def counting(node: Any, condition: Any) -> bool:
        nonlocal calls
        calls += condition is where  # the page's filter, not its parts
        return real(node, condition)

    monkeypatch.setattr(filters, "matches", counting)
    seen: list[int] = []
    position: tuple[datetime, int] | None = None
    while True:
        where = {"and_": keyset("_updated", None, position)} if position else None
        page = keyset_page(world, PURCHASE_ORDERS, "_updated", where, 100)
        rows = [edge["node"] for edge in page["edges"]]
        seen += [row["id"] for row in rows]
        if not page["pageInfo"]["hasNextPage"]:
            break
        last = rows[-1]
        position = (last["_updated"], last["id"])
    assert seen == list(range(1, 5_001))
    assert calls <= 5_000 + 2 * 50
