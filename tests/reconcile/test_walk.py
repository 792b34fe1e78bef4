"""Keyset walking: filters built from positions, never offsets; cursors with an overlap."""

from __future__ import annotations

import asyncio
import gc
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.errors import IonRejected
from bridge.reconcile.catalog import SPECS, resolve
from bridge.reconcile.cursors import CursorState, covered, newest
from bridge.reconcile.walk import Page, Position, keyset_filter, pages, sort_for, walk_start

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


def _now() -> datetime:
    return datetime.now(UTC)


def test_pages_walk_every_row_once_across_ties() -> None:
    """A keyset walk returns each row exactly once even when pages split equal timestamps."""

    async def walk() -> list[int]:
        seen: list[int] = []
        async for page in pages(
            FakeIon(_rows(10)), SPECS["PURCHASE_ORDERS"], key="_updated", page_size=4, clock=_now
        ):
            seen.extend(o["id"] for o in page.objects)
        return seen

    assert asyncio.run(walk()) == list(range(1, 11))


def test_a_server_ignoring_the_keyset_stops_the_walk() -> None:
    """If ION returned the same rows again the walk would loop; it raises instead."""

    async def walk() -> None:
        ion = FakeIon(_rows(10), ignore_filter=True)
        async for _ in pages(
            ion, SPECS["PURCHASE_ORDERS"], key="_updated", page_size=4, clock=_now
        ):
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


class GatedIon(FakeIon):
    """A FakeIon whose every answer waits for the test's go-ahead; it notes what is in flight,
    when each request arrived on the walk's clock, and which requests were cancelled."""

    def __init__(self, rows: list[dict[str, Any]], clock: Clock, *, fail_call: int = 0) -> None:
        super().__init__(rows)
        self.clock = clock
        self.fail_call = fail_call
        self.arrived: list[asyncio.Event] = [asyncio.Event() for _ in range(10)]
        self.release: list[asyncio.Event] = [asyncio.Event() for _ in range(10)]
        self.failed = asyncio.Event()
        self.sent_at: list[datetime] = []
        self.in_flight = self.most_in_flight = 0
        self.cancelled: list[int] = []

    async def execute(
        self, operation: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        call = len(self.sent_at)
        self.sent_at.append(self.clock.last)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.arrived[call].set()
        try:
            if call + 1 == self.fail_call:
                self.failed.set()
                raise IonRejected("ION is having a bad day")
            await self.release[call].wait()
            return await super().execute(operation, variables)
        except asyncio.CancelledError:
            self.cancelled.append(call)
            raise
        finally:
            self.in_flight -= 1


class Clock:
    """A clock that moves one second each time it is read; `last` is the latest reading."""

    def __init__(self) -> None:
        self.last = T0

    def __call__(self) -> datetime:
        self.last += timedelta(seconds=1)
        return self.last


def test_the_next_page_is_on_its_way_while_the_caller_handles_one() -> None:
    """Page 2 is asked for as soon as page 1 has arrived, before the caller asks for it, and
    never more than one request is in flight. Each page's `fetched_at` is the clock reading
    taken when its own request was sent, not when the caller got to it."""

    async def walk() -> tuple[list[Page], GatedIon]:
        clock = Clock()
        ion = GatedIon(_rows(10), clock)
        got: list[Page] = []
        walker = pages(ion, SPECS["PURCHASE_ORDERS"], key="_updated", page_size=4, clock=clock)
        async with aclosing(walker):
            for call in range(3):
                ion.release[call].set()
                got.append(await anext(walker))
                if call < 2:
                    # The caller is "storing" this page: the next request arrives meanwhile.
                    await asyncio.wait_for(ion.arrived[call + 1].wait(), timeout=10)
                clock()  # the caller's own work reads the clock too
            assert await anext(walker, None) is None
        return got, ion

    got, ion = asyncio.run(walk())
    assert [[o["id"] for o in page.objects] for page in got] == [
        [1, 2, 3, 4],
        [5, 6, 7, 8],
        [9, 10],
    ]
    assert [page.fetched_at for page in got] == ion.sent_at
    assert len(ion.calls) == 3  # a short page ends the walk: no fourth request
    assert ion.most_in_flight == 1


def test_a_caller_that_stops_early_cancels_the_request_in_flight() -> None:
    """Leaving the walk after page 1 cancels page 2's request; no orphan keeps running."""

    async def walk() -> tuple[list[int], int]:
        ion = GatedIon(_rows(10), Clock())
        ion.release[0].set()
        walker = pages(ion, SPECS["PURCHASE_ORDERS"], key="_updated", page_size=4, clock=ion.clock)
        async with aclosing(walker):
            async for _ in walker:
                await asyncio.wait_for(ion.arrived[1].wait(), timeout=10)
                break
        await asyncio.sleep(0)  # let the cancelled request run its except clause
        # Read before asyncio.run ends, which would cancel anything left running anyway.
        return list(ion.cancelled), ion.in_flight

    cancelled, in_flight = asyncio.run(walk())
    assert cancelled == [1]
    assert in_flight == 0


def test_a_failed_page_nobody_reads_is_not_an_unhandled_error() -> None:
    """Page 2 fails while the caller is leaving after page 1: the failure is dropped quietly,
    not reported by asyncio as a task exception never retrieved."""
    reported: list[dict[str, Any]] = []

    async def walk() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: reported.append(ctx))
        ion = GatedIon(_rows(10), Clock(), fail_call=2)
        ion.release[0].set()
        walker = pages(ion, SPECS["PURCHASE_ORDERS"], key="_updated", page_size=4, clock=ion.clock)
        async with aclosing(walker):
            async for _ in walker:
                await asyncio.wait_for(ion.failed.wait(), timeout=10)
                break
        gc.collect()

    asyncio.run(walk())
    assert reported == []


def test_a_failed_page_the_caller_asks_for_raises_there() -> None:
    """A page whose request failed raises where the caller asks for it, after the pages before
    it were handed over."""
    seen: list[int] = []

    async def walk() -> None:
        ion = GatedIon(_rows(10), Clock(), fail_call=2)
        ion.release[0].set()
        walker = pages(ion, SPECS["PURCHASE_ORDERS"], key="_updated", page_size=4, clock=ion.clock)
        async with aclosing(walker):
            async for page in walker:
                seen.extend(o["id"] for o in page.objects)

    with pytest.raises(IonRejected, match="bad day"):
        asyncio.run(walk())
    assert seen == [1, 2, 3, 4]
