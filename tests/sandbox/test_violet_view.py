"""How webhook bodies change Violet's view (pure rules, no server)."""

from __future__ import annotations

from typing import Any

from bridge.sandbox.violet.view import View, canonical_resource, is_graphql_shaped


def _po_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": 42,
        "status": "draft",
        "description": "Bolts",
        "need_date": None,
        "estimated_arrival_date": None,
        "estimated_total_cost": None,
        "supplier_id": 7,
        "ship_to_location_id": 3,
    }
    row.update(overrides)
    return row


def _complete_po(**overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": 42,
        "_etag": "e1",
        "status": "ORDERED",
        "description": "Bolts",
        "needDate": "2026-12-01T00:00:00Z",
        "estimatedArrivalDate": None,
        "estimatedTotalCost": 12.5,
        "supplierId": 7,
        "supplier": {"id": 7, "name": "Acme"},
        "shipToLocationId": 3,
        "shipToLocation": {"id": 3, "name": "Dock", "address": "1 Main St"},
    }
    obj.update(overrides)
    return obj


def _record(view: View, resource: str, entity_id: str) -> dict[str, Any]:
    return view.state()[resource][entity_id]


def test_native_create_sets_tracked_columns() -> None:
    """A native CREATE sets the tracked columns its snake_case row carries, normalized."""
    view = View()
    view.apply({"resource": "PURCHASE_ORDERS", "action": "CREATE", "id": 42, "data": _po_row()}, 1)
    record = _record(view, "PURCHASE_ORDERS", "42")
    assert record["status"] == "DRAFT"
    assert record["description"] == "Bolts"


def test_foreign_key_ids_give_nothing() -> None:
    """Foreign-key ids alone do not give Violet the linked object's fields."""
    view = View()
    view.apply({"resource": "PURCHASE_ORDERS", "action": "CREATE", "id": 42, "data": _po_row()}, 1)
    record = _record(view, "PURCHASE_ORDERS", "42")
    assert record["supplier.name"] is None
    assert record["shipToLocation.address"] is None


def test_native_create_reads_embedded_linked_objects() -> None:
    """A linked object embedded under its GraphQL name fills the linked fields."""
    data = _po_row(shipToLocation={"id": 3, "name": "Dock", "address": "1 Main St"})
    view = View()
    view.apply({"resource": "PURCHASE_ORDERS", "action": "CREATE", "id": 42, "data": data}, 1)
    record = _record(view, "PURCHASE_ORDERS", "42")
    assert record["shipToLocation.name"] == "Dock"
    assert record["shipToLocation.address"] == "1 Main St"
    assert record["supplier.name"] is None


def test_native_update_applies_only_changes() -> None:
    """A native UPDATE applies `changes[col].new`; `data` beyond the changes is ignored."""
    view = View()
    view.apply({"resource": "PURCHASE_ORDERS", "action": "CREATE", "id": 42, "data": _po_row()}, 1)
    body = {
        "resource": "PURCHASE_ORDERS",
        "action": "UPDATE",
        "id": 42,
        "changes": {"status": {"old": "draft", "new": "ordered"}},
        "data": _po_row(status="ordered", description="Nuts"),
    }
    view.apply(body, 2)
    record = _record(view, "PURCHASE_ORDERS", "42")
    assert record["status"] == "ORDERED"
    assert record["description"] == "Bolts"


def test_native_update_reads_linked_object_changes() -> None:
    """An UPDATE whose change under a link name carries an object sets the linked fields."""
    view = View()
    new = {"id": 4, "name": "Yard", "address": "2 Side Rd"}
    changes = {"shipToLocation": {"old": None, "new": new}, "ship_to_location_id": {"new": 4}}
    view.apply({"resource": "PURCHASE_ORDER", "action": "UPDATE", "id": 42, "changes": changes}, 1)
    assert _record(view, "PURCHASE_ORDERS", "42")["shipToLocation.address"] == "2 Side Rd"


def test_complete_object_replaces_the_record() -> None:
    """A complete GraphQL-shaped object replaces the record whatever the action says."""
    view = View()
    view.apply({"resource": "PURCHASE_ORDERS", "action": "CREATE", "id": 42, "data": _po_row()}, 1)
    view.apply(
        {
            "resource": "PURCHASE_ORDERS",
            "action": "UPDATE",
            "id": 42,
            "changes": {},
            "data": _complete_po(),
        },
        2,
    )
    record = _record(view, "PURCHASE_ORDERS", "42")
    assert record == {
        "status": "ORDERED",
        "description": "Bolts",
        "needDate": "2026-12-01",
        "estimatedArrivalDate": None,
        "estimatedTotalCost": "12.5",
        "supplier.name": "Acme",
        "shipToLocation.name": "Dock",
        "shipToLocation.address": "1 Main St",
    }


def test_incomplete_graphql_object_is_not_a_replacement() -> None:
    """An object missing a tracked field, or with a link as a bare id, is not complete."""
    partial = _complete_po()
    del partial["needDate"]
    as_id = _complete_po(shipToLocation=3)
    assert not is_graphql_shaped("PURCHASE_ORDERS", partial)
    assert not is_graphql_shaped("PURCHASE_ORDERS", as_id)
    assert is_graphql_shaped("PURCHASE_ORDERS", _complete_po(supplier=None))


def test_native_location_row_is_not_a_replacement() -> None:
    """A native location row (snake_case columns) updates only through `changes`."""
    view = View()
    row = {"id": 3, "name": "Dock", "address": None, "parent_id": None}
    view.apply({"resource": "LOCATIONS", "action": "CREATE", "id": 3, "data": row}, 1)
    later = {**row, "address": "1 Main St"}
    view.apply(
        {"resource": "LOCATIONS", "action": "UPDATE", "id": 3, "changes": {}, "data": later}, 2
    )
    assert _record(view, "LOCATIONS", "3")["address"] is None


def test_delete_removes_the_record() -> None:
    """A DELETE removes the record and its change times."""
    view = View()
    view.apply(
        {"resource": "SUPPLIERS", "action": "CREATE", "id": 7, "data": {"id": 7, "name": "A"}}, 1
    )
    view.apply({"resource": "SUPPLIERS", "action": "DELETE", "id": 7}, 2)
    assert view.state()["SUPPLIERS"] == {}
    assert view.field_times()["SUPPLIERS"] == {}


def test_unusable_bodies_change_nothing() -> None:
    """Bodies that are not objects, name no tracked resource or no id leave the view alone."""
    view = View()
    assert not view.apply(None, 1)
    assert not view.apply(["x"], 1)
    assert not view.apply({"resource": "RUNS", "action": "CREATE", "id": 1, "data": {}}, 1)
    assert not view.apply({"resource": "PARTS", "action": "CREATE"}, 1)
    assert view.state() == {name: {} for name in view.state()}


def test_field_times_move_only_on_change() -> None:
    """A field's change time moves when its value changes, not when it is re-sent unchanged."""
    view = View()
    create = {"resource": "SUPPLIERS", "action": "CREATE", "id": 7, "data": {"id": 7, "name": "A"}}
    view.apply(create, 1.0)
    view.apply({**create, "action": "UPDATE", "changes": {"name": {"old": "A", "new": "A"}}}, 2.0)
    view.apply(
        {**create, "action": "UPDATE", "changes": {"address": {"old": None, "new": "X"}}}, 3.0
    )
    assert view.field_times()["SUPPLIERS"]["7"] == {"name": 1.0, "address": 3.0}


def test_singular_resource_names_are_accepted() -> None:
    """Today's singular spellings map onto the schema's plural resource names."""
    assert canonical_resource("PURCHASE_ORDER_LINE") == "PURCHASE_ORDER_LINES"
    assert canonical_resource("part") == "PARTS"
    assert canonical_resource("RUNS") is None
