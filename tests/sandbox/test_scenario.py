"""The scripted day against the real ION stand-in over HTTP."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bridge.sandbox.demo import stand_ins, wait_for_ion_quiet
from bridge.sandbox.report import fetch_truth
from bridge.sandbox.scenario import DayReport, play_day


def _play(seed: int, operations: int) -> tuple[DayReport, dict[str, Any]]:
    with stand_ins() as stands:
        report = asyncio.run(
            play_day(
                stands.ion_url,
                client_id=stands.client_id,
                client_secret=stands.client_secret,
                seed=seed,
                operations=operations,
            )
        )
        wait_for_ion_quiet(stands, day_ended=time.monotonic())
        return report, fetch_truth(stands.ion_url)


def test_same_seed_same_truth() -> None:
    """Two days played with one seed leave ION holding exactly the same tracked data."""
    first_report, first = _play(seed=11, operations=80)
    second_report, second = _play(seed=11, operations=80)
    assert first == second
    assert first_report.counts == second_report.counts


def test_day_covers_every_kind_of_operation() -> None:
    """A default-sized day creates every resource and exercises every kind of change."""
    report, truth = _play(seed=7, operations=200)
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
    _, first = _play(seed=1, operations=40)
    _, second = _play(seed=2, operations=40)
    assert first != second
