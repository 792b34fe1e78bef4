"""The convergence report on hand-made truth and view."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from bridge.sandbox.report import compare, render_table

TRUTH: dict[str, Any] = {
    "LOCATIONS": {
        "1": {"name": "Dock", "address": "1 Main St"},
        "2": {"name": "Yard", "address": None},
    },
    "SUPPLIERS": {"7": {"name": "Acme", "address": "9 High St"}},
    "PARTS": {},
}


def test_identical_view_is_fully_correct() -> None:
    """A view equal to the truth is 100 % correct everywhere."""
    result = compare(TRUTH, TRUTH)
    assert result.converged
    assert result.total.total == 6
    assert result.resources["PARTS"].percent == 100.0


def test_differences_are_counted_and_listed() -> None:
    """Wrong values count as wrong and are listed with truth and view side by side."""
    view = {
        "LOCATIONS": {"1": {"name": "Dock", "address": None}, "2": {"name": "Yard"}},
        "SUPPLIERS": {"7": {"name": "ACME", "address": "9 High St"}},
    }
    result = compare(TRUTH, view)
    locations = result.resources["LOCATIONS"]
    assert (locations.total, locations.correct, locations.wrong) == (4, 3, 1)
    assert locations.percent == 75.0
    (difference,) = locations.differences
    assert (difference.entity_id, difference.field) == ("1", "address")
    assert (difference.truth, difference.view) == ("1 Main St", None)
    assert result.resources["SUPPLIERS"].wrong == 1
    assert (result.total.total, result.total.correct) == (6, 4)


def test_missing_objects_count_every_field_wrong() -> None:
    """An object Violet never heard of counts all its fields wrong, except those ION has empty."""
    result = compare(TRUTH, {})
    assert result.resources["LOCATIONS"].correct == 1  # Yard's empty address matches nothing
    assert result.resources["SUPPLIERS"].correct == 0


def test_values_compare_normalized() -> None:
    """Enum case, date and number spellings do not count as differences."""
    truth = {"PURCHASE_ORDERS": {"1": {"status": "ORDERED", "needDate": "2026-12-01"}}}
    view = {"PURCHASE_ORDERS": {"1": {"status": "ordered", "needDate": "2026-12-01T00:00:00Z"}}}
    assert compare(truth, view).converged


def test_table_shows_one_column_per_wiring_and_differences() -> None:
    """The table has a column per wiring, a totals row, and the first differences below."""
    columns = {"direct": compare(TRUTH, {}), "bridge": compare(TRUTH, TRUTH)}
    console = Console(width=120, record=True)
    console.print(render_table(columns))
    text = console.export_text()
    assert "direct" in text
    assert "bridge" in text
    assert "total" in text
    assert "100.0 %" in text
    assert "SUPPLIERS #7 name: 'Acme' → None" in text
