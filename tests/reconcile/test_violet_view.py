"""The modelled Violet record: the rules, and agreement with the Violet stand-in."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.reconcile import violet_view
from bridge.sandbox import tracked
from bridge.sandbox.violet.view import View

PO = "PURCHASE_ORDERS"


def complete_po(entity_id: int = 1, **overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": entity_id,
        "_updated": "2026-11-22T10:00:00.000000+00:00",
        "status": "ORDERED",
        "description": "Order",
        "needDate": "2026-12-01T00:00:00",
        "estimatedArrivalDate": None,
        "estimatedTotalCost": 12.5,
        "supplierId": 7,
        "shipToLocationId": 3,
        "supplier": {"id": 7, "name": "Acme", "address": "1 Main St"},
        "shipToLocation": {"id": 3, "name": "Dock 1", "address": "2 Quay St"},
    }
    obj.update(overrides)
    return obj


def test_native_create_sets_columns_but_not_linked_objects() -> None:
    """A native CREATE gives Violet the row's columns; FK ids give it nothing about links."""
    body = {
        "resource": PO,
        "action": "CREATE",
        "id": 1,
        "data": {"id": 1, "status": "draft", "description": "An order", "supplier_id": 7},
    }
    record = violet_view.apply(None, body)
    assert record == {"status": "DRAFT", "description": "An order"}
    assert "supplier.name" in violet_view.wrong_fields(
        PO, record, tracked.tracked_values(PO, complete_po())
    )


def test_native_update_applies_only_changes_new() -> None:
    """A native UPDATE sets `changes[col].new` and leaves every other field as it was."""
    record = {"status": "DRAFT", "description": "An order"}
    body = {
        "resource": "PURCHASE_ORDER",
        "action": "UPDATE",
        "id": 1,
        "changes": {"status": {"old": "draft", "new": "ordered"}},
        "data": {"id": 1, "status": "ordered", "description": "Changed"},
    }
    assert violet_view.apply(record, body) == {"status": "ORDERED", "description": "An order"}


def test_complete_graphql_object_replaces_the_record() -> None:
    """A complete GraphQL-shaped `data` replaces the record whatever the action."""
    body = {"resource": PO, "action": "UPDATE", "id": 1, "data": complete_po()}
    record = violet_view.apply({"status": "DRAFT", "stale": 1}, body)
    assert record == tracked.tracked_values(PO, complete_po())


def test_delete_removes_and_foreign_bodies_are_ignored() -> None:
    """DELETE empties the record; a body for an untracked resource changes nothing."""
    assert (
        violet_view.apply({"status": "DRAFT"}, {"resource": PO, "action": "DELETE", "id": 1})
        is None
    )
    assert violet_view.apply({"a": 1}, {"resource": "RUNS", "action": "UPDATE", "id": 1}) == {
        "a": 1
    }
    assert violet_view.apply({"a": 1}, "not a body") == {"a": 1}


# -- agreement with the Violet stand-in --------------------------------------------------------

_values = st.one_of(st.none(), st.sampled_from(["draft", "ordered", "x", "", "2026-12-01"]))
_link = st.one_of(
    st.none(),
    st.integers(1, 3),
    st.fixed_dictionaries({"id": st.integers(1, 3), "name": _values, "address": _values}),
)


def _native(action: str) -> st.SearchStrategy[dict[str, Any]]:
    row = st.fixed_dictionaries(
        {},
        optional={
            "status": _values,
            "description": _values,
            "need_date": _values,
            "estimated_total_cost": st.one_of(st.none(), st.floats(0, 10)),
            "supplier_id": st.integers(1, 3),
            "supplier": _link,
            "ship_to_location": _link,
        },
    )
    if action == "CREATE":
        return row.map(lambda data: {"resource": PO, "action": "CREATE", "id": 1, "data": data})
    changes = st.dictionaries(
        st.sampled_from(["status", "description", "need_date", "supplier", "ship_to_location"]),
        st.fixed_dictionaries({"old": _values, "new": st.one_of(_values, _link)}),
    )
    return changes.map(lambda c: {"resource": PO, "action": "UPDATE", "id": 1, "changes": c})


_complete = st.builds(
    lambda status, name: {
        "resource": PO,
        "action": "UPDATE",
        "id": 1,
        "data": complete_po(status=status, supplier={"id": 7, "name": name}),
    },
    _values,
    _values,
)
_delete = st.just({"resource": PO, "action": "DELETE", "id": 1})
_bodies = st.lists(st.one_of(_native("CREATE"), _native("UPDATE"), _complete, _delete), max_size=8)


@settings(max_examples=120, deadline=None)
@given(_bodies)
def test_model_agrees_with_the_violet_stand_in(bodies: list[dict[str, Any]]) -> None:
    """On any sequence of bodies, the model and the stand-in hold the same record."""
    stand_in = View()
    for at, body in enumerate(bodies):
        stand_in.apply(body, float(at))
    model = violet_view.fold(None, bodies)
    held = stand_in.state()[PO].get("1")
    if model is None:
        assert held is None
    else:
        assert held is not None
        assert {path: model.get(path) for path in tracked.TRACKED[PO]} == held
