"""The stand-in's `/_sandbox/` routes: parts, truth, counters and fault switches."""

from __future__ import annotations

import time

import httpx
import pytest

from bridge.sandbox.ion import IonWorld, run_ion_standin
from bridge.sandbox.serving import free_port
from tests.sandbox.conftest import IonStandin, Receiver

PARTS = "{ parts(sort: [ID_ASC]) { edges { node { id partNumber revision description _etag } } } }"


def test_parts_are_written_through_the_sandbox_and_read_over_graphql(
    ion_standin: IonStandin, receiver: Receiver
) -> None:
    """POST and PATCH /_sandbox/parts write parts, fire PARTS webhooks; GraphQL only reads them."""
    ion_standin.subscribe(receiver.url, [("PARTS", "CREATE"), ("PARTS", "UPDATE")])
    part = ion_standin.sandbox("POST", "parts", {"partNumber": "P-1", "description": "bolt"})
    assert (part["partNumber"], part["revision"]) == ("P-1", "A")
    patched = ion_standin.sandbox(
        "PATCH", f"parts/{part['id']}", {"revision": "B", "etag": part["_etag"]}
    )
    assert patched["_etag"] != part["_etag"]
    (node,) = [e["node"] for e in ion_standin.data(PARTS)["parts"]["edges"]]
    assert (node["revision"], node["description"]) == ("B", "bolt")
    created, updated = (d.json() for d in receiver.wait_for(2))
    assert (created["resource"], created["action"]) == ("PARTS", "CREATE")
    assert updated["changes"] == {"revision": {"old": "A", "new": "B"}}
    assert updated["data"]["part_number"] == "P-1"
    no_mutation = ion_standin.graphql('mutation { createPart(input: {partNumber: "x"}) { id } }')
    assert no_mutation["errors"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "parts", {"revision": "A"}, 400),
        ("POST", "parts", {"partNumber": "P", "colour": "red"}, 400),
        ("POST", "parts", {"partNumber": 7}, 400),
        ("PATCH", "parts/999", {"revision": "B"}, 404),
        ("PATCH", "parts/1", {"revision": "B", "etag": "old"}, 409),
        ("PATCH", "parts/abc", {"revision": "B"}, 400),
        ("POST", "faults", {"graphql_502": -1}, 400),
        ("POST", "faults", {"explode": True}, 400),
    ],
)
def test_bad_sandbox_requests_get_a_one_line_error(
    ion_standin: IonStandin, method: str, path: str, body: object, status: int
) -> None:
    """Invalid bodies, unknown ids and stale etags are 4xx with a one-line message."""
    ion_standin.sandbox("POST", "parts", {"partNumber": "P-1"})
    answer = ion_standin.http.request(method, f"/_sandbox/{path}", json=body)
    assert answer.status_code == status
    assert "\n" not in answer.json()["error"]


def test_bad_json_to_a_sandbox_route_is_a_400(ion_standin: IonStandin) -> None:
    """A body that is not JSON is refused with a message, not a 500."""
    for path in ("parts", "faults", "limitations"):
        answer = ion_standin.http.post(f"/_sandbox/{path}", content=b"{oops")
        assert answer.status_code == 400
        assert "JSON" in answer.json()["error"]


def test_truth_holds_the_tracked_fields_of_every_resource(ion_standin: IonStandin) -> None:
    """GET /_sandbox/truth: per resource and id, the tracked fields read through the links."""
    ion_standin.data(
        'mutation { createLocation(input: {name: "Dock", address: "1 Main"}) { location { id } } }'
    )
    ion_standin.data(
        "mutation { createPurchaseOrder(input: {shipToLocationId: 1, status: ORDERED}) "
        "{ purchaseOrder { id } } }"
    )
    truth = ion_standin.sandbox("GET", "truth")
    assert set(truth) == {
        "PURCHASE_ORDERS",
        "PURCHASE_ORDER_LINES",
        "LOCATIONS",
        "SUPPLIERS",
        "PARTS",
    }
    order = truth["PURCHASE_ORDERS"]["1"]
    assert order["status"] == "ORDERED"
    assert (order["shipToLocation.name"], order["shipToLocation.address"]) == ("Dock", "1 Main")
    assert order["supplier.name"] is None
    assert truth["LOCATIONS"] == {"1": {"name": "Dock", "address": "1 Main"}}


def test_stats_count_requests_and_reset(ion_standin: IonStandin) -> None:
    """Counters by kind: GraphQL requests, mutations by name, queries by root field, tokens."""
    ion_standin.data('mutation { createSupplier(input: {name: "A"}) { supplier { id } } }')
    ion_standin.data("{ suppliers { pageInfo { totalCount } } locations { edges { cursor } } }")
    stats = ion_standin.sandbox("GET", "stats")
    assert stats["graphql_requests"] == 2
    assert stats["token_requests"] == 1
    assert stats["mutations"] == {"total": 1, "by_name": {"createSupplier": 1}}
    assert stats["queries"]["by_field"] == {"suppliers": 1, "locations": 1}
    reset = ion_standin.sandbox("POST", "stats/reset")
    assert reset["graphql_requests"] == 0
    assert reset["mutations"]["total"] == 0


def test_fault_switches(ion_standin: IonStandin) -> None:
    """502s for the next N requests, one forced 401, revoked tokens, slow answers; DELETE clears."""
    query = "{ suppliers { pageInfo { totalCount } } }"
    ion_standin.sandbox("POST", "faults", {"graphql_502": 2})
    assert [ion_standin.post_graphql(query).status_code for _ in range(3)] == [502, 502, 200]

    ion_standin.sandbox("POST", "faults", {"unauthorized_once": True})
    assert [ion_standin.post_graphql(query).status_code for _ in range(2)] == [401, 200]

    ion_standin.sandbox("POST", "faults", {"revoke_tokens": True})
    assert ion_standin.post_graphql(query).status_code == 401
    ion_standin.token = ion_standin.fetch_token()
    assert ion_standin.post_graphql(query).status_code == 200

    ion_standin.sandbox("POST", "faults", {"slow_ms": 300})
    started = time.monotonic()
    assert ion_standin.post_graphql(query).status_code == 200
    assert time.monotonic() - started >= 0.3
    cleared = ion_standin.sandbox("DELETE", "faults")
    assert cleared == {"graphql_502": 0, "slow_ms": 0, "unauthorized_once": False}


def test_run_ion_standin_serves_on_the_given_port() -> None:
    """The convenience runner starts a real server on the port asked for; stop() ends it."""
    port = free_port()
    server = run_ion_standin(IonWorld(), port=port)
    try:
        assert server.url == f"http://127.0.0.1:{port}"
        answer = httpx.post(f"{server.url}/graphql", json={"query": "{ __typename }"})
        assert answer.status_code == 401
    finally:
        server.stop()
