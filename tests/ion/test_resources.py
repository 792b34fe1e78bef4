"""Resource names: configured spellings mapped onto ION's live ResourceEnum, and the bridge's
internal (plural) names."""

from __future__ import annotations

import pytest

from bridge.ion.resources import canonical, map_resources, normalize, variants
from bridge.sandbox.tracked import TRACKED

#: Resource values of the 2023 schema (plural) and of today's docs (singular).
PLURAL_LIVE = [
    "PURCHASE_ORDERS", "PURCHASE_ORDER_LINES", "PURCHASE_ORDER_FEES", "PURCHASE_ORDERS_ATTRIBUTES",
    "PURCHASE_ORDER_LINES_ATTRIBUTES", "SUPPLIERS", "LOCATIONS", "PARTS", "PART_ATTRIBUTES",
    "PARTS_INVENTORY", "RECEIPTS", "RECEIPT_ITEMS", "RUNS",
]  # fmt: skip
SINGULAR_LIVE = [
    "PURCHASE_ORDER", "PURCHASE_ORDER_LINE", "PURCHASE_ORDER_FEE", "SUPPLIER", "LOCATION",
    "PART", "PART_INVENTORY", "RECEIPT", "RECEIPT_ITEM", "RUN",
]  # fmt: skip


@pytest.mark.parametrize(
    ("configured", "live"),
    [
        ("PURCHASE_ORDER", "PURCHASE_ORDERS"),
        ("PURCHASE_ORDER_LINE", "PURCHASE_ORDER_LINES"),
        ("PART", "PARTS"),
        ("SUPPLIER", "SUPPLIERS"),
        ("LOCATION", "LOCATIONS"),
        ("RECEIPT", "RECEIPTS"),
        ("RECEIPT_ITEM", "RECEIPT_ITEMS"),
        ("PURCHASE_ORDER_FEE", "PURCHASE_ORDER_FEES"),
        ("PURCHASE_ORDER_ATTRIBUTES", "PURCHASE_ORDERS_ATTRIBUTES"),
        ("PURCHASE_ORDER_LINE_ATTRIBUTES", "PURCHASE_ORDER_LINES_ATTRIBUTES"),
        ("PARTS_ATTRIBUTES", "PART_ATTRIBUTES"),
        ("PART_INVENTORY", "PARTS_INVENTORY"),
        ("purchase-orders", "PURCHASE_ORDERS"),
    ],
)
def test_singular_config_names_map_onto_plural_live_names(configured: str, live: str) -> None:
    """A singular (or differently spelled) configured name finds the plural live value."""
    assert map_resources([configured], PLURAL_LIVE).mapped == {configured: live}


@pytest.mark.parametrize(
    ("configured", "live"),
    [
        ("PURCHASE_ORDERS", "PURCHASE_ORDER"),
        ("PURCHASE_ORDER_LINES", "PURCHASE_ORDER_LINE"),
        ("PARTS", "PART"),
        ("RECEIPT_ITEMS", "RECEIPT_ITEM"),
        ("PARTS_INVENTORY", "PART_INVENTORY"),
    ],
)
def test_plural_config_names_map_onto_singular_live_names(configured: str, live: str) -> None:
    """A plural configured name finds a tenant that spells resources in the singular."""
    assert map_resources([configured], SINGULAR_LIVE).mapped == {configured: live}


def test_unknown_names_are_reported_not_dropped() -> None:
    """A name ION does not have is listed as unknown, the others still map."""
    mapping = map_resources(["PARTS", "WIDGETS", "PURCHASE_ORDER"], PLURAL_LIVE)
    assert mapping.unknown == ("WIDGETS",)
    assert mapping.live == ("PARTS", "PURCHASE_ORDERS")


def test_two_spellings_of_one_resource_meet_on_one_live_name() -> None:
    """`PART` and `PARTS` configured together subscribe once."""
    assert map_resources(["PART", "PARTS"], PLURAL_LIVE).live == ("PARTS",)


def test_an_exact_live_name_wins_over_a_variant() -> None:
    """Where a tenant had both spellings, the configured one is used as written."""
    assert map_resources(["PART"], ["PARTS", "PART"]).mapped == {"PART": "PART"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("PURCHASE_ORDER", "PURCHASE_ORDERS"),
        ("PURCHASE_ORDERS", "PURCHASE_ORDERS"),
        ("PURCHASE_ORDER_LINE", "PURCHASE_ORDER_LINES"),
        ("PART", "PARTS"),
        ("SUPPLIER", "SUPPLIERS"),
        ("LOCATION", "LOCATIONS"),
        ("RECEIPT_ITEM", "RECEIPT_ITEMS"),
        ("PURCHASE_ORDER_ATTRIBUTES", "PURCHASE_ORDERS_ATTRIBUTES"),
        ("PART_INVENTORY", "PARTS_INVENTORY"),
        ("WIDGET", "WIDGETS"),
        ("WIDGET_ATTRIBUTES", "WIDGETS_ATTRIBUTES"),
        ("purchase_order", "PURCHASE_ORDERS"),
    ],
)
def test_canonical_is_the_plural_internal_name(name: str, expected: str) -> None:
    """Whatever ION's body spells, the bridge keys resources by one plural name."""
    assert canonical(name) == expected


def test_canonical_names_are_the_tracked_keys() -> None:
    """The tracked resources' singular spellings land on TRACKED's keys."""
    for key in TRACKED:
        singular = key.replace("ORDERS", "ORDER").replace("LINES", "LINE").rstrip("S")
        assert canonical(singular) == key
        assert canonical(key) == key


def test_variants_start_with_the_name_itself() -> None:
    """The name as written is always tried first, then the last word's other number."""
    assert variants("purchase order")[:2] == ["PURCHASE_ORDER", "PURCHASE_ORDERS"]
    assert normalize(" purchase-order_lines ") == "PURCHASE_ORDER_LINES"
    assert variants("") == []
