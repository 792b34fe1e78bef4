"""The scripted day against the real ION stand-in over HTTP."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from bridge.sandbox.demo import stand_ins, wait_for_ion_quiet
from bridge.sandbox.ion.tables import PURCHASE_ORDER_LINES, PURCHASE_ORDERS
from bridge.sandbox.report import fetch_truth
from bridge.sandbox.scenario import DayReport, play_day


def _play(
    seed: int, operations: int, late_fills: int = 0, late_after: float = 0.0
) -> tuple[DayReport, dict[str, Any], dict[tuple[str, int], dict[str, Any]]]:
    """The day's report, ION's tracked data, and ION's raw rows by (table, id)."""
    with stand_ins() as stands:
        report = asyncio.run(
            play_day(
                stands.ion_url,
                client_id=stands.client_id,
                client_secret=stands.client_secret,
                seed=seed,
                operations=operations,
                late_fills=late_fills,
                late_after=late_after,
            )
        )
        wait_for_ion_quiet(stands, day_ended=time.monotonic())
        rows = {
            (table, row["id"]): dict(row)
            for table in (PURCHASE_ORDERS, PURCHASE_ORDER_LINES)
            for row in stands.ion.rows(table)
        }
        return report, fetch_truth(stands.ion_url), rows


def test_same_seed_same_truth() -> None:
    """Two days played with one seed leave ION holding exactly the same tracked data."""
    first_report, first, _ = _play(seed=11, operations=80)
    second_report, second, _ = _play(seed=11, operations=80)
    assert first == second
    assert first_report.counts == second_report.counts


def test_day_covers_every_kind_of_operation() -> None:
    """A default-sized day creates every resource and exercises every kind of change."""
    report, truth, _ = _play(seed=7, operations=200)
    assert report.operations == sum(report.counts.values()) == 200
    assert set(report.counts) == {
        "create_supplier",
        "create_location",
        "create_part",
        "create_order",
        "add_line",
        "fill_order",
        "fill_line",
        "change_ship_to",
        "edit_location_address",
        "rename_supplier",
        "advance_order_status",
        "advance_line_status",
        "edit_part_description",
        "change_line_quantity",
    }
    assert all(truth[resource] for resource in truth)


def test_different_seed_different_truth() -> None:
    """Another seed plays another day."""
    _, first, _ = _play(seed=1, operations=40)
    _, second, _ = _play(seed=2, operations=40)
    assert first != second


def test_late_fills_fill_empty_fields_after_the_pause() -> None:
    """The same day plus late fills: only fields that were empty change, and each object they
    touch was last written at least `late_after` after it was created (no longer "just after
    creation" to the bridge: the empty → populated gap)."""
    _, _, plain = _play(seed=7, operations=60)
    report, _, late = _play(seed=7, operations=60, late_fills=6, late_after=0.4)
    assert report.counts["later: fill_order"] + report.counts["later: fill_line"] == 6
    # What users fill in (roll-ups such as an order's estimated cost follow a line's cost).
    fillable = {
        PURCHASE_ORDERS: ("description", "supplierId", "shipToLocationId"),
        PURCHASE_ORDER_LINES: ("cost", "needDate", "estimatedArrivalDate", "partId"),
    }
    filled = {
        key: [name for name in fillable[key[0]] if plain[key].get(name) != row.get(name)]
        for key, row in late.items()
    }
    filled = {key: names for key, names in filled.items() if names}
    assert 1 <= len(filled) <= 6
    for key, names in filled.items():
        assert all(plain[key].get(name) is None for name in names), (key, names)
        assert late[key]["_updated"] - late[key]["_created"] >= timedelta(seconds=0.4)


def test_demo_late_fills_come_after_the_bridges_settle_window() -> None:
    """The demo's late fills must read as the empty → populated gap to the bridge, i.e. come
    later than its settle window, or the demo would never show that gap on its own."""
    from bridge.sandbox.demo import LATE_FILL_AFTER_SECONDS, LATE_FILLS
    from bridge.sandbox.through_bridge import SETTLE_DELAYS_SECONDS

    assert LATE_FILLS > 0
    assert max(SETTLE_DELAYS_SECONDS) < LATE_FILL_AFTER_SECONDS
