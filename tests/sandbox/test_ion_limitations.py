"""ION's four webhook limitations, each shown on and off, and that all four off lose nothing."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.sandbox.tracked import TRACKED, diff, normalize, snake
from tests.sandbox.conftest import IonStandin, Receiver, wait_until

RESOURCES = tuple(TRACKED)
ALL_OFF = dict.fromkeys(
    ("no_line_create_event", "empty_to_populated_dropped", "links_as_ids", "late_fields"), False
)


@pytest.fixture
def ion(ion_standin: IonStandin, receiver: Receiver) -> IonStandin:
    """The stand-in with a receiver subscribed to CREATE and UPDATE of the five resources."""
    pairs = [(resource, action) for resource in RESOURCES for action in ("CREATE", "UPDATE")]
    ion_standin.subscribe(receiver.url, pairs)
    return ion_standin


def _limit(ion: IonStandin, **switches: bool) -> None:
    ion.sandbox("POST", "limitations", switches)


def _bodies(ion: IonStandin, resource: str | None = None) -> list[dict[str, Any]]:
    """Every body fired so far (all are recorded at write time), oldest first."""
    bodies = [event["body"] for event in ion.events()]
    return [b for b in bodies if resource is None or b["resource"] == resource]


def _quiet(ion: IonStandin) -> list[dict[str, Any]]:
    """The bodies once held-back columns are written and no delivery is still under way."""
    wait_until(lambda: not ion.world.held, what="late fields to be written")
    return [e["body"] for e in ion.settled_events(0)]


def _create(ion: IonStandin, kind: str, input_: dict[str, Any], fields: str = "id _etag") -> Any:
    payload = kind[0].lower() + kind[1:]
    query = f"""mutation($i: Create{kind}Input!) {{
      create{kind}(input: $i) {{ {payload} {{ {fields} }} }} }}"""
    return ion.data(query, {"i": input_})[f"create{kind}"][payload]


def _update(ion: IonStandin, kind: str, input_: dict[str, Any]) -> Any:
    payload = kind[0].lower() + kind[1:]
    query = f"""mutation($i: Update{kind}Input!) {{
      update{kind}(input: $i) {{ {payload} {{ id _etag }} }} }}"""
    return ion.data(query, {"i": input_})[f"update{kind}"][payload]


def _order(ion: IonStandin, **values: Any) -> Any:
    return _create(ion, "PurchaseOrder", values, "id _etag estimatedTotalCost")


def test_limitations_are_switched_over_http(ion_standin: IonStandin) -> None:
    """GET shows the four switches (all on by default); POST changes some; bad input is a 400."""
    assert set(ion_standin.sandbox("GET", "limitations").values()) == {True}
    after = ion_standin.sandbox("POST", "limitations", {"late_fields": False})
    assert after["late_fields"] is False
    assert ion_standin.world.limitations.late_fields is False
    for bad in ({"late_fields": "no"}, {"nonsense": True}, [1]):
        answer = ion_standin.http.post("/_sandbox/limitations", json=bad)
        assert answer.status_code == 400
        assert "\n" not in answer.json()["error"]
    broken = ion_standin.http.post("/_sandbox/limitations", content=b"{not json")
    assert broken.status_code == 400


@pytest.mark.parametrize("limited", [True, False])
def test_creating_a_line_fires_only_without_the_limitation(ion: IonStandin, limited: bool) -> None:
    """Limitation 1: a new PO line fires no CREATE (and records no event) while it is on."""
    _limit(ion, no_line_create_event=limited)
    order = _order(ion)
    _create(ion, "PurchaseOrderLine", {"purchaseOrderId": order["id"], "quantity": 3})
    lines = _bodies(ion, "PURCHASE_ORDER_LINES")
    if limited:
        assert lines == []
    else:
        assert [(b["action"], b["data"]["quantity"]) for b in lines] == [("CREATE", 3.0)]
    assert [b["action"] for b in _bodies(ion, "PURCHASE_ORDERS")] == ["CREATE"]


@pytest.mark.parametrize("limited", [True, False])
def test_empty_to_populated_changes_are_dropped_only_when_limited(
    ion: IonStandin, limited: bool
) -> None:
    """Limitation 2: null -> value is left out of `changes`; value -> value always stays."""
    _limit(ion, empty_to_populated_dropped=limited)
    order = _order(ion, status="DRAFT")
    update = {
        "id": order["id"],
        "etag": order["_etag"],
        "description": "bolts",
        "status": "APPROVED",
    }
    changed = _update(ion, "PurchaseOrder", update)
    _update(ion, "PurchaseOrder", {"id": order["id"], "etag": changed["_etag"], "paid": True})
    first, second = (b["changes"] for b in _bodies(ion, "PURCHASE_ORDERS")[1:])
    assert first["status"] == {"old": "draft", "new": "approved"}
    assert second == {"paid": {"old": False, "new": True}}
    if limited:
        assert "description" not in first
    else:
        assert first["description"] == {"old": None, "new": "bolts"}


def test_an_update_of_only_empty_to_populated_is_still_sent_empty(ion: IonStandin) -> None:
    """With limitation 2 on, an update whose only change was dropped arrives with `{}`."""
    order = _order(ion)
    _update(ion, "PurchaseOrder", {"id": order["id"], "etag": order["_etag"], "description": "x"})
    update = _bodies(ion, "PURCHASE_ORDERS")[-1]
    assert (update["action"], update["changes"]) == ("UPDATE", {})
    assert update["data"]["description"] == "x"


def _linked_world(ion: IonStandin) -> dict[str, Any]:
    dock = _create(ion, "Location", {"name": "Dock", "address": "1 Main"})
    yard = _create(ion, "Location", {"name": "Yard", "address": "2 Side"})
    supplier = _create(ion, "Supplier", {"name": "Acme", "address": "9 Far"})
    part = ion.sandbox("POST", "parts", {"partNumber": "P-1", "description": "bolt"})
    order = _order(ion, supplierId=supplier["id"], shipToLocationId=dock["id"])
    line = {"purchaseOrderId": order["id"], "partId": part["id"]}
    return {"dock": dock, "yard": yard, "order": order, "part": part, "line": line}


def test_links_arrive_as_ids_only_while_limited(ion: IonStandin) -> None:
    """Limitation 3 on: foreign keys only; a renamed location fires nothing for its orders."""
    linked = _linked_world(ion)
    created = _bodies(ion, "PURCHASE_ORDERS")[0]
    assert created["data"]["ship_to_location_id"] == linked["dock"]["id"]
    assert "shipToLocation" not in created["data"]
    assert "supplier" not in created["data"]
    dock = linked["dock"]
    _update(ion, "Location", {"id": dock["id"], "etag": dock["_etag"], "name": "Dock 2"})
    assert [b["action"] for b in _bodies(ion, "PURCHASE_ORDERS")] == ["CREATE"]


def test_links_are_embedded_and_propagated_without_the_limitation(ion: IonStandin) -> None:
    """Limitation 3 off: linked objects embedded; FK and linked-object changes reach referrers."""
    _limit(ion, links_as_ids=False, no_line_create_event=False)
    linked = _linked_world(ion)
    dock, yard, order = linked["dock"], linked["yard"], linked["order"]
    _create(ion, "PurchaseOrderLine", linked["line"])
    data = _bodies(ion, "PURCHASE_ORDERS")[0]["data"]
    assert data["shipToLocation"] == {"id": dock["id"], "name": "Dock", "address": "1 Main"}
    assert data["supplier"]["name"] == "Acme"
    line_data = _bodies(ion, "PURCHASE_ORDER_LINES")[0]["data"]
    assert line_data["part"] == {
        "id": linked["part"]["id"],
        "partNumber": "P-1",
        "revision": "A",
        "description": "bolt",
    }

    moved = _update(ion, "PurchaseOrder", {**_etag(order), "shipToLocationId": yard["id"]})
    change = _bodies(ion, "PURCHASE_ORDERS")[-1]["changes"]
    assert change["ship_to_location_id"] == {"old": dock["id"], "new": yard["id"]}
    assert change["shipToLocation"]["old"]["name"] == "Dock"
    assert change["shipToLocation"]["new"] == {
        "id": yard["id"],
        "name": "Yard",
        "address": "2 Side",
    }

    _update(ion, "Location", {**_etag(yard), "address": "3 New"})
    referrer = _bodies(ion, "PURCHASE_ORDERS")[-1]
    assert (referrer["action"], referrer["id"]) == ("UPDATE", moved["id"])
    assert referrer["changes"]["shipToLocation"]["new"]["address"] == "3 New"
    assert referrer["changes"]["shipToLocation"]["old"]["address"] == "2 Side"

    ion.sandbox("PATCH", f"parts/{linked['part']['id']}", {"revision": "B"})
    line_update = _bodies(ion, "PURCHASE_ORDER_LINES")[-1]
    assert line_update["changes"]["part"]["new"]["revision"] == "B"


def _etag(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "etag": row["_etag"]}


def test_late_fields_are_held_back_then_filled_by_a_follow_up(ion: IonStandin) -> None:
    """Limitation 4 on: new rows lack some columns; an UPDATE shortly after fills them in."""
    _limit(ion, no_line_create_event=False, empty_to_populated_dropped=False)
    order = _order(ion, cost=100.0)
    assert order["estimatedTotalCost"] is None
    values = {"purchaseOrderId": order["id"], "cost": 5.0, "estimatedArrivalDate": "2026-12-01"}
    line = _create(ion, "PurchaseOrderLine", values, "id cost estimatedArrivalDate")
    assert (line["cost"], line["estimatedArrivalDate"]) == (None, None)
    line_create = _bodies(ion, "PURCHASE_ORDER_LINES")[0]
    assert line_create["data"]["cost"] is None

    bodies = _quiet(ion)
    follow_up = [b for b in bodies if b["resource"] == "PURCHASE_ORDER_LINES"][-1]
    assert follow_up["action"] == "UPDATE"
    assert follow_up["changes"]["cost"] == {"old": None, "new": 5.0}
    assert follow_up["changes"]["estimated_arrival_date"]["new"].startswith("2026-12-01")
    query = "query($id: ID!) { purchaseOrder(id: $id) { estimatedTotalCost estimatedArrivalDate } }"
    filled = ion.data(query, {"id": order["id"]})["purchaseOrder"]
    assert filled["estimatedTotalCost"] == 105.0
    assert filled["estimatedArrivalDate"].startswith("2026-12-01")


def test_late_fields_are_stored_at_once_without_the_limitation(ion: IonStandin) -> None:
    """Limitation 4 off: the created row already has every column it was given."""
    _limit(ion, late_fields=False)
    order = _order(ion, cost=100.0)
    assert order["estimatedTotalCost"] == 100.0
    line = _create(
        ion, "PurchaseOrderLine", {"purchaseOrderId": order["id"], "cost": 5.0}, "id cost"
    )
    assert line["cost"] == 5.0
    assert ion.world.held == {}


def _violet_view(bodies: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """What a Violet applying `data` on CREATE and `changes[*].new` on UPDATE would hold."""
    view: dict[str, dict[str, dict[str, Any]]] = {resource: {} for resource in RESOURCES}
    for body in sorted(bodies, key=lambda b: b["event_id"]):
        resource = body["resource"]
        fields = view[resource].setdefault(str(body["id"]), {})
        if body["action"] == "CREATE":
            source = {key: {"new": value} for key, value in body["data"].items()}
        else:
            source = body["changes"]
        for path in TRACKED[resource]:
            head, _, rest = path.partition(".")
            key = head if rest else snake(head)
            if key in source:
                new = source[key]["new"]
                fields[path] = normalize(new.get(rest) if rest and new else new)
    return view


def _busy_day(ion: IonStandin) -> None:
    """Creates and edits touching every tracked field and every link."""
    linked = _linked_world(ion)
    dock, yard, order = linked["dock"], linked["yard"], linked["order"]
    line_values = {**linked["line"], "cost": 2.5, "quantity": 4, "needDate": "2026-12-01"}
    line = _create(ion, "PurchaseOrderLine", {**line_values, "estimatedArrivalDate": "2026-12-09"})
    line = _update(ion, "PurchaseOrderLine", {**_etag(line), "cost": 3.0, "status": "ORDERED"})
    # A held-back column landing later would change the order's etag under our feet.
    wait_until(lambda: not ion.world.held, what="late fields to be written")
    current = ion.data("query($id: ID!) { purchaseOrder(id: $id) { _etag } }", {"id": order["id"]})
    order = {**order, "_etag": current["purchaseOrder"]["_etag"]}
    order = _update(ion, "PurchaseOrder", {**_etag(order), "status": "ORDERED", "description": "x"})
    _update(ion, "PurchaseOrder", {**_etag(order), "shipToLocationId": yard["id"]})
    _update(ion, "Location", {**_etag(yard), "name": "Yard 2", "address": "4 Road"})
    _update(ion, "Location", {**_etag(dock), "address": "1 Main St"})
    supplier = ion.data("{ suppliers { edges { node { id _etag } } } }")["suppliers"]["edges"][0]
    _update(ion, "Supplier", {**_etag(supplier["node"]), "name": "Acme Ltd"})
    ion.sandbox("PATCH", f"parts/{linked['part']['id']}", {"revision": "B", "description": "nut"})


def test_with_all_limitations_off_violet_ends_up_exactly_right(ion: IonStandin) -> None:
    """Applying the bodies as Violet does reproduces ION's truth on every tracked field."""
    _limit(ion, **ALL_OFF)
    _busy_day(ion)
    truth = ion.sandbox("GET", "truth")
    view = _violet_view(_quiet(ion))
    for resource in RESOURCES:
        assert truth[resource], resource
        assert diff(truth[resource], view[resource]) == [], resource


def test_with_the_limitations_on_violet_ends_up_wrong(ion: IonStandin) -> None:
    """The same day with ION's limitations leaves Violet's view wrong: the stand-in shows them."""
    _busy_day(ion)
    truth = ion.sandbox("GET", "truth")
    view = _violet_view(_quiet(ion))
    wrong = {field for r in RESOURCES for _, field, _, _ in diff(truth[r], view[r])}
    assert {"shipToLocation.name", "part.partNumber", "cost"} <= wrong
