"""The stand-in's API over real HTTP: tokens, errors like ION's, etags, filters, sort, paging."""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest
from graphql import print_schema
from hypothesis import given, settings

from bridge.sandbox.ion import TOKEN_PATHS
from bridge.sandbox.ion.schema import ion_schema
from tests.sandbox.conftest import IonStandin

PO_FIELDS = "id status description cost estimatedTotalCost shipToLocationId _etag _updated _created"
ORDERS = f"""
query($filters: PurchaseOrdersInputFilters, $sort: [PurchaseOrderSortEnum], $first: Int,
      $after: String, $last: Int, $before: String) {{
  purchaseOrders(filters: $filters, sort: $sort, first: $first, after: $after, last: $last,
                 before: $before) {{
    pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor count totalCount }}
    edges {{ cursor node {{ {PO_FIELDS} }} }}
  }}
}}"""
CREATE_PO = f"""mutation($input: CreatePurchaseOrderInput!) {{
  createPurchaseOrder(input: $input) {{ purchaseOrder {{ {PO_FIELDS} }} }}
}}"""
UPDATE_PO = f"""mutation($input: UpdatePurchaseOrderInput!) {{
  updatePurchaseOrder(input: $input) {{ purchaseOrder {{ {PO_FIELDS} }} }}
}}"""


def _location(standin: IonStandin, name: str) -> int:
    query = "mutation($n: String!) { createLocation(input: {name: $n}) { location { id } } }"
    location_id: int = standin.data(query, {"n": name})["createLocation"]["location"]["id"]
    return location_id


def _order(standin: IonStandin, **values: Any) -> dict[str, Any]:
    order: dict[str, Any] = standin.data(CREATE_PO, {"input": values})["createPurchaseOrder"][
        "purchaseOrder"
    ]
    return order


def _ids(standin: IonStandin, **variables: Any) -> list[int]:
    connection = standin.data(ORDERS, variables)["purchaseOrders"]
    return [edge["node"]["id"] for edge in connection["edges"]]


@pytest.fixture
def orders(ion_standin: IonStandin) -> list[dict[str, Any]]:
    """Five orders: mixed statuses, costs, descriptions and ship-to locations."""
    # Held-back roll-ups would land later as writes and reorder `_updated` under the test.
    ion_standin.sandbox("POST", "limitations", {"late_fields": False})
    dock, yard = _location(ion_standin, "Dock"), _location(ion_standin, "Yard")
    rows = [
        {"status": "DRAFT", "cost": 10.0, "description": "bolts", "shipToLocationId": dock},
        {"status": "APPROVED", "cost": 20.0, "shipToLocationId": yard},
        {"status": "ORDERED", "cost": 30.0, "description": "Nuts", "shipToLocationId": dock},
        {"status": "ORDERED", "cost": 40.0},
        {"status": "CANCELED", "description": "washers", "shipToLocationId": yard},
    ]
    return [_order(ion_standin, **row) for row in rows]


def test_token_endpoint_issues_tokens_and_refuses_a_wrong_secret(ion_standin: IonStandin) -> None:
    """client_credentials gives a bearer token; a wrong secret gets Keycloak's 401 answer."""
    form = {"grant_type": "client_credentials", "client_id": "sandbox-client"}
    for path in TOKEN_PATHS:
        good = ion_standin.http.post(path, data={**form, "client_secret": "sandbox-secret"})
        assert good.status_code == 200
        assert good.json()["expires_in"] == 300
        assert good.json()["token_type"] == "Bearer"
    bad = ion_standin.http.post(TOKEN_PATHS[0], data={**form, "client_secret": "nope"})
    assert bad.status_code == 401
    assert bad.json() == {
        "error": "unauthorized_client",
        "error_description": "Invalid client or Invalid client credentials",
    }


def test_graphql_needs_a_live_token_in_either_header_form(ion_standin: IonStandin) -> None:
    """No token or an unknown one is a 401; `Bearer <t>` and a bare `<t>` both work."""
    query = {"query": "{ locations { pageInfo { totalCount } } }"}
    assert ion_standin.http.post("/graphql", json=query).status_code == 401
    unknown = {"Authorization": "Bearer not-a-token"}
    assert ion_standin.http.post("/graphql", json=query, headers=unknown).status_code == 401
    for header in (f"Bearer {ion_standin.token}", ion_standin.token):
        answer = ion_standin.http.post("/graphql", json=query, headers={"Authorization": header})
        assert answer.status_code == 200
        assert answer.json()["data"]["locations"]["pageInfo"]["totalCount"] == 0


def test_tokens_expire(ion_standin: IonStandin) -> None:
    """A token older than token_ttl_seconds is refused; a fresh one works again."""
    ion_standin.world.token_ttl_seconds = 0
    ion_standin.token = ion_standin.fetch_token()
    assert ion_standin.post_graphql("{ parts { edges { cursor } } }").status_code == 401


def test_errors_come_back_in_the_errors_array_with_http_200(ion_standin: IonStandin) -> None:
    """Malformed queries, validation errors and unknown ids answer 200 with `errors`."""
    for query in (
        "{ purchaseOrders(",
        "{ purchaseOrders { nope } }",
        "{ supplier(id: 999) { id } }",
    ):
        result = ion_standin.graphql(query)
        assert result["errors"], query
        assert "Traceback" not in str(result)
    unknown = ion_standin.graphql("{ supplier(id: 999) { id } }")
    assert "999" in unknown["errors"][0]["message"]
    not_json = ion_standin.http.post(
        "/graphql", content=b"{nope", headers={"Authorization": f"Bearer {ion_standin.token}"}
    )
    assert not_json.status_code == 400
    assert not_json.json()["errors"]


def test_a_stale_etag_is_refused_with_an_error_naming_it(ion_standin: IonStandin) -> None:
    """Updates need the current etag; an old one is an error that names it, and nothing changes."""
    order = _order(ion_standin, description="first")
    update = {"id": order["id"], "etag": order["_etag"], "description": "second"}
    updated = ion_standin.data(UPDATE_PO, {"input": update})["updatePurchaseOrder"]["purchaseOrder"]
    assert updated["_etag"] != order["_etag"]
    stale = ion_standin.graphql(UPDATE_PO, {"input": {**update, "description": "third"}})
    assert order["_etag"] in stale["errors"][0]["message"]
    assert "etag" in stale["errors"][0]["message"]
    again = ion_standin.data("query($id: ID!) { purchaseOrder(id: $id) { description } }", update)
    assert again["purchaseOrder"]["description"] == "second"


def test_every_write_gets_a_new_etag_and_a_later_updated(ion_standin: IonStandin) -> None:
    """`_updated` strictly increases across writes and carries microseconds; `_etag` changes."""
    order = _order(ion_standin, description="a")
    seen = [order]
    for text in ("b", "c", "d"):
        variables = {"input": {"id": order["id"], "etag": seen[-1]["_etag"], "description": text}}
        seen.append(ion_standin.data(UPDATE_PO, variables)["updatePurchaseOrder"]["purchaseOrder"])
    stamps = [row["_updated"] for row in seen]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)
    assert len({row["_etag"] for row in seen}) == len(seen)
    assert all("." in stamp and stamp.endswith("+00:00") for stamp in stamps)


def test_filters_and_or_comparisons_isnull_in(ion_standin: IonStandin, orders: list[Any]) -> None:
    """and_/or_, gt/lte, isnull and in select exactly the matching orders."""
    ids = [o["id"] for o in orders]
    both = {"and_": [{"cost": {"gt": 10}}, {"cost": {"lte": 30}}]}
    assert _ids(ion_standin, filters=both) == ids[1:3]
    either = {"or_": [{"status": {"eq": "DRAFT"}}, {"status": {"eq": "CANCELED"}}]}
    assert _ids(ion_standin, filters=either) == [ids[0], ids[4]]
    assert _ids(ion_standin, filters={"description": {"isnull": True}}) == [ids[1], ids[3]]
    assert _ids(ion_standin, filters={"status": {"in": ["ORDERED", "APPROVED"]}}) == ids[1:4]
    assert _ids(ion_standin, filters={"description": {"ilike": "%UT%"}}) == [ids[2]]
    assert _ids(ion_standin, filters={"id": {"in": [str(ids[0]), str(ids[4])]}}) == [ids[0], ids[4]]


def test_relation_filters_nest(ion_standin: IonStandin, orders: list[Any]) -> None:
    """A filter on a linked object (`shipToLocation: {id: {eq: N}}`) nests into it."""
    dock = orders[0]["shipToLocationId"]
    by_id = {"shipToLocation": {"id": {"eq": dock}}}
    assert _ids(ion_standin, filters=by_id) == [orders[0]["id"], orders[2]["id"]]
    by_name = {"shipToLocation": {"name": {"eq": "Yard"}}, "status": {"neq": "CANCELED"}}
    assert _ids(ion_standin, filters=by_name) == [orders[1]["id"]]


def test_sort_by_updated_and_by_several_keys(ion_standin: IonStandin, orders: list[Any]) -> None:
    """`_UPDATED_ASC` puts the last-written order last; later sort keys break ties."""
    first = orders[0]
    touch = {"input": {"id": first["id"], "etag": first["_etag"], "description": "touched"}}
    ion_standin.data(UPDATE_PO, touch)
    ids = [o["id"] for o in orders]
    assert _ids(ion_standin, sort=["_UPDATED_ASC"]) == [*ids[1:], ids[0]]
    assert _ids(ion_standin, sort=["_UPDATED_DESC"])[0] == ids[0]
    by_location = _ids(ion_standin, sort=["SHIP_TO_LOCATION_ID_ASC", "ID_DESC"])
    assert by_location == [ids[2], ids[0], ids[4], ids[1], ids[3]]  # Dock, Yard, then no location


def test_first_after_paging_walks_every_row_once(
    ion_standin: IonStandin, orders: list[Any]
) -> None:
    """first/after pages with `arrayconnection:N` cursors and an accurate pageInfo."""
    walked: list[int] = []
    after = None
    pages = []
    while True:
        variables = {"first": 2, "after": after, "sort": ["ID_ASC"]}
        connection = ion_standin.data(ORDERS, variables)["purchaseOrders"]
        pages.append(connection["pageInfo"])
        walked += [edge["node"]["id"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert walked == [o["id"] for o in orders]
    assert [p["count"] for p in pages] == [2, 2, 1]
    assert {p["totalCount"] for p in pages} == {5}
    assert [p["hasPreviousPage"] for p in pages] == [False, True, True]
    assert base64.b64decode(pages[0]["endCursor"]).decode() == "arrayconnection:1"
    tail = ion_standin.data(ORDERS, {"last": 2, "before": pages[2]["startCursor"]})
    assert [e["node"]["id"] for e in tail["purchaseOrders"]["edges"]] == walked[2:4]
    assert ion_standin.graphql(ORDERS, {"after": "garbage"})["errors"]


def test_resource_enum_is_readable_by_introspection(ion_standin: IonStandin) -> None:
    """The bridge reads ResourceEnum's values by introspection."""
    result = ion_standin.data('{ __type(name: "ResourceEnum") { enumValues { name } } }')
    names = {value["name"] for value in result["__type"]["enumValues"]}
    assert {"PURCHASE_ORDERS", "PURCHASE_ORDER_LINES", "LOCATIONS", "SUPPLIERS", "PARTS"} <= names
    assert len(names) > 100


def test_keyset_walk_by_updated_filter(ion_standin: IonStandin, orders: list[Any]) -> None:
    """`_updated: {gt: <last seen>}` with `_UPDATED_ASC` returns exactly the later writes."""
    third = orders[2]["_updated"]
    later = _ids(ion_standin, filters={"_updated": {"gt": third}}, sort=["_UPDATED_ASC"])
    assert later == [orders[3]["id"], orders[4]["id"]]
    literal = '{ purchaseOrders(filters: {_updated: {lte: "%s"}}) { pageInfo { totalCount } } }'
    inline = ion_standin.data(literal % third)
    assert inline["purchaseOrders"]["pageInfo"]["totalCount"] == 3
    assert ion_standin.graphql(ORDERS, {"filters": {"_updated": {"gt": "yesterday"}}})["errors"]


def test_no_generated_query_makes_the_standin_fail(
    ion_standin: IonStandin, orders: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Any query valid for the schema answers 200, and no resolver hits an unexpected error."""
    strategies = pytest.importorskip("hypothesis_graphql")
    sdl = print_schema(ion_schema())

    @settings(max_examples=40, deadline=None, database=None, derandomize=True)
    @given(query=strategies.queries(sdl))
    def run(query: str) -> None:
        assert ion_standin.post_graphql(query).status_code == 200

    with caplog.at_level(logging.ERROR, logger="bridge.sandbox.ion"):
        run()
    assert [r.getMessage() for r in caplog.records if r.name.startswith("bridge.sandbox.ion")] == []
