"""Webhooks fired like ION's: signed, with custom headers, recorded, retried until they fail."""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from typing import Any

from tests.sandbox.conftest import IonStandin, Receiver, make_world, standin_for, wait_until

SUPPLIER = "mutation($n: String!) { createSupplier(input: {name: $n}) { supplier { id _etag } } }"
RENAME = (
    """mutation($i: UpdateSupplierInput!) { updateSupplier(input: $i) { supplier { _etag } } }"""
)
EVENTS = """{ webhookEvents(sort: [ID_ASC]) { edges { node {
  id subscriptionId status numberOfRetries requestData responseStatusCode responseData
  responseReceivedAt } } } }"""


def _supplier(standin: IonStandin, name: str = "Acme") -> dict[str, Any]:
    supplier: dict[str, Any] = standin.data(SUPPLIER, {"n": name})["createSupplier"]["supplier"]
    return supplier


def _graphql_events(standin: IonStandin) -> list[dict[str, Any]]:
    return [edge["node"] for edge in standin.data(EVENTS)["webhookEvents"]["edges"]]


def test_deliveries_are_signed_and_carry_the_custom_header(
    ion_standin: IonStandin, receiver: Receiver
) -> None:
    """x-ion-signature verifies with the shared secret; the receiver's custom header arrives."""
    hook = ion_standin.subscribe(receiver.url, [("SUPPLIERS", "CREATE"), ("SUPPLIERS", "UPDATE")])
    header = ion_standin.data(
        'mutation { createWebhookHeader(input: {key: "x-bridge-token", value: "tok-1"})'
        " { webhookHeader { id } } }"
    )["createWebhookHeader"]["webhookHeader"]
    attach = """mutation($i: WebhookReceiverHeaderInput) {
      addHeaderToWebhookReceiver(input: $i) { webhookReceiver { headers { key } } } }"""
    link = {"etag": hook["_etag"], "webhookReceiverId": hook["id"], "webhookHeaderId": header["id"]}
    attached = ion_standin.data(attach, {"i": link})["addHeaderToWebhookReceiver"]
    assert attached["webhookReceiver"]["headers"] == [{"key": "x-bridge-token"}]

    supplier = _supplier(ion_standin)
    rename = {"id": str(supplier["id"]), "etag": supplier["_etag"], "name": "Acme Inc"}
    ion_standin.data(RENAME, {"i": rename})
    created, updated = receiver.wait_for(2)
    for delivery in (created, updated):
        expected = hmac.new(hook["sharedSecret"].encode(), delivery.body, hashlib.sha256)
        assert delivery.headers["x-ion-signature"] == expected.hexdigest()
        assert delivery.headers["x-bridge-token"] == "tok-1"
        assert delivery.headers["content-type"] == "application/json"

    body = created.json()
    assert (body["resource"], body["action"], body["id"]) == ("SUPPLIERS", "CREATE", supplier["id"])
    assert body["changes"] == {}
    assert body["data"]["name"] == "Acme"
    assert "contact_name" in body["data"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["timestamp"])
    assert updated.json()["changes"] == {"name": {"old": "Acme", "new": "Acme Inc"}}

    events = ion_standin.settled_events(2)
    assert [e["status"] for e in events] == ["SUCCEEDED", "SUCCEEDED"]
    recorded = _graphql_events(ion_standin)
    assert [e["requestData"].encode() for e in recorded] == [created.body, updated.body]
    assert [e["id"] for e in recorded] == [created.json()["event_id"], updated.json()["event_id"]]
    assert recorded[0]["responseStatusCode"] == 200
    assert recorded[0]["responseReceivedAt"] is not None


def test_bodies_use_column_names_lower_case_enums_and_foreign_keys(
    ion_standin: IonStandin, receiver: Receiver
) -> None:
    """`changes` and `data` are snake_case with lower-case enum values; links are `*_id`."""
    ion_standin.subscribe(receiver.url, [("PURCHASE_ORDERS", "UPDATE")])
    supplier = _supplier(ion_standin)
    order = ion_standin.data(
        "mutation($s: Int) { createPurchaseOrder(input: {supplierId: $s, status: APPROVED})"
        " { purchaseOrder { id _etag } } }",
        {"s": supplier["id"]},
    )["createPurchaseOrder"]["purchaseOrder"]
    ion_standin.data(
        "mutation($i: UpdatePurchaseOrderInput!)"
        " { updatePurchaseOrder(input: $i) { purchaseOrder { id } } }",
        {"i": {"id": order["id"], "etag": order["_etag"], "status": "ORDERED"}},
    )
    (delivery,) = receiver.wait_for(1)
    body = delivery.json()
    assert body["changes"] == {"status": {"old": "approved", "new": "ordered"}}
    assert body["data"]["status"] == "ordered"
    assert body["data"]["supplier_id"] == supplier["id"]
    assert "ship_to_location_id" in body["data"]
    assert "supplier" not in body["data"]
    assert body["subscription_id"] == ion_standin.events()[0]["subscriptionId"]


def test_a_failed_delivery_comes_again_with_the_same_body(
    ion_standin: IonStandin, receiver: Receiver
) -> None:
    """A 500 is retried after the first delay; the retry carries the identical signed body."""
    receiver.statuses = [500]
    ion_standin.subscribe(receiver.url, [("SUPPLIERS", "CREATE")])
    _supplier(ion_standin)
    first, second = receiver.wait_for(2)
    assert first.body == second.body
    assert first.headers["x-ion-signature"] == second.headers["x-ion-signature"]
    (event,) = ion_standin.settled_events(1)
    assert (event["status"], event["numberOfRetries"]) == ("SUCCEEDED", 1)


def test_a_delivery_that_keeps_failing_ends_failed(
    ion_standin: IonStandin, receiver: Receiver
) -> None:
    """After the last retry fails, the event is FAILED with the receiver's last answer."""
    receiver.statuses = [500, 500, 503]
    ion_standin.subscribe(receiver.url, [("SUPPLIERS", "CREATE")])
    _supplier(ion_standin)
    receiver.wait_for(3)
    (event,) = ion_standin.settled_events(1)
    assert (event["status"], event["numberOfRetries"]) == ("FAILED", 2)
    assert (event["responseStatusCode"], event["responseData"]) == (503, "answered 503")
    assert event["requestData"] == receiver.deliveries[0].body.decode()


def test_only_the_expected_response_code_counts_as_success(
    ion_standin: IonStandin, receiver: Receiver
) -> None:
    """A receiver expecting 202 that answers 200 is retried until it answers 202."""
    receiver.statuses = [200, 202]
    ion_standin.subscribe(receiver.url, [("SUPPLIERS", "CREATE")], expectedResponseCode=202)
    _supplier(ion_standin)
    receiver.wait_for(2)
    (event,) = ion_standin.settled_events(1)
    assert (event["status"], event["responseStatusCode"]) == ("SUCCEEDED", 202)


def test_an_event_waiting_for_its_retry_is_retrying(receiver: Receiver) -> None:
    """Between a failed attempt and its retry the event shows RETRYING."""
    receiver.statuses = [500]
    with standin_for(make_world(webhook_retry_delays=(30.0,))) as standin:
        standin.subscribe(receiver.url, [("SUPPLIERS", "CREATE")])
        _supplier(standin)
        wait_until(lambda: standin.events()[0]["status"] == "RETRYING", what="RETRYING")
        retrying = standin.data(
            "{ webhookEvents(filters: {status: {eq: RETRYING}}) { pageInfo { totalCount } } }"
        )
        assert retrying["webhookEvents"]["pageInfo"]["totalCount"] == 1


def test_the_mutation_answers_before_the_delivery_completes(
    ion_standin: IonStandin, receiver: Receiver
) -> None:
    """Delivery runs in the background: the write returns while the receiver is still busy."""
    receiver.gate = threading.Event()
    ion_standin.subscribe(receiver.url, [("SUPPLIERS", "CREATE")])
    _supplier(ion_standin)
    receiver.wait_for(1)
    assert ion_standin.events()[0]["status"] == "SENDING"
    receiver.gate.set()
    (event,) = ion_standin.settled_events(1)
    assert event["status"] == "SUCCEEDED"


def test_only_active_matching_subscriptions_fire(
    ion_standin: IonStandin, receiver: Receiver
) -> None:
    """No event for another action, nor for an inactive receiver; one per matching subscription."""
    ion_standin.subscribe(receiver.url, [("SUPPLIERS", "UPDATE")])
    ion_standin.subscribe(receiver.url, [("SUPPLIERS", "CREATE")], active=False)
    _supplier(ion_standin)
    assert ion_standin.events() == []
    ion_standin.subscribe(receiver.url, [("SUPPLIERS", "CREATE"), ("SUPPLIERS", "CREATE")])
    _supplier(ion_standin, "Bolt Co")
    events = ion_standin.settled_events(2)
    assert len(events) == 2
    assert events[0]["id"] < events[1]["id"]
    assert [e["body"]["event_id"] for e in events] == [e["id"] for e in events]
    assert len({e["subscriptionId"] for e in events}) == 2
    assert ion_standin.sandbox("GET", "stats")["webhook_posts"] == 2


def test_webhook_receiver_defaults(ion_standin: IonStandin) -> None:
    """Omitted sharedSecret is generated; expectedResponseCode 200, active, JSON by default."""
    query = """mutation { createWebhookReceiver(input: {name: "r", webhookUri: "https://x.test/h"})
      { webhookReceiver { sharedSecret expectedResponseCode active contentType } } }"""
    hook = ion_standin.data(query)["createWebhookReceiver"]["webhookReceiver"]
    assert len(hook["sharedSecret"]) >= 32
    assert (hook["expectedResponseCode"], hook["active"], hook["contentType"]) == (
        200,
        True,
        "JSON",
    )
    bad = (
        'mutation { createWebhookReceiver(input: {name: "r", webhookUri: "nope"})'
        " { webhookReceiver { id } } }"
    )
    assert ion_standin.graphql(bad)["errors"]


def test_subscriptions_update_only_active_and_delete_by_etag(ion_standin: IonStandin) -> None:
    """A subscription's `active` can change; resource cannot; deletes need the current etag."""
    hook = ion_standin.subscribe("https://x.test/h", [("PURCHASE_ORDERS", "UPDATE")])
    sub = ion_standin.data("{ webhookSubscriptions { edges { node { id _etag resource } } } }")
    node = sub["webhookSubscriptions"]["edges"][0]["node"]
    assert node["resource"] == "PURCHASE_ORDERS"
    update = """mutation($i: UpdateWebhookSubscriptionInput!) {
      updateWebhookSubscription(input: $i) { webhookSubscription { active _etag } } }"""
    variables = {"i": {"id": node["id"], "etag": node["_etag"], "active": False}}
    paused = ion_standin.data(update, variables)["updateWebhookSubscription"]["webhookSubscription"]
    assert paused["active"] is False
    variables["i"]["resource"] = "PARTS"
    assert ion_standin.graphql(update, variables)["errors"]
    delete = """mutation($id: ID!, $etag: String!) {
      deleteWebhookSubscription(id: $id, etag: $etag) { id } }"""
    assert ion_standin.graphql(delete, {"id": node["id"], "etag": node["_etag"]})["errors"]
    gone = ion_standin.data(delete, {"id": node["id"], "etag": paused["_etag"]})
    assert gone["deleteWebhookSubscription"]["id"] == node["id"]
    count = ion_standin.data(
        "query($id: ID!) { webhookReceiver(id: $id) { _SubscriptionsCount } }", {"id": hook["id"]}
    )
    assert count["webhookReceiver"]["_SubscriptionsCount"] == 0


def test_receiver_headers_can_be_removed_and_receivers_edited_and_deleted(
    ion_standin: IonStandin,
) -> None:
    """The rest of the receiver API: remove a header, update, delete (subscriptions go too)."""
    hook = ion_standin.subscribe("https://x.test/h", [("PARTS", "CREATE")])
    header = ion_standin.data(
        'mutation { createWebhookHeader(input: {key: "k", value: "v"}) { webhookHeader { id } } }'
    )["createWebhookHeader"]["webhookHeader"]
    link = """mutation($i: WebhookReceiverHeaderInput) {
      %s(input: $i) { webhookReceiver { _etag _HeadersCount } } }"""
    variables = {
        "etag": hook["_etag"],
        "webhookReceiverId": hook["id"],
        "webhookHeaderId": header["id"],
    }
    added = ion_standin.data(link % "addHeaderToWebhookReceiver", {"i": variables})
    receiver = added["addHeaderToWebhookReceiver"]["webhookReceiver"]
    assert receiver["_HeadersCount"] == 1
    headers = ion_standin.data(
        "{ webhookHeaders { edges { node { key _WebhookReceiversCount } } } }"
    )
    assert headers["webhookHeaders"]["edges"][0]["node"] == {
        "key": "k",
        "_WebhookReceiversCount": 1,
    }
    assert ion_standin.graphql(link % "removeHeaderFromWebhookReceiver", {"i": variables})["errors"]
    variables["etag"] = receiver["_etag"]
    removed = ion_standin.data(link % "removeHeaderFromWebhookReceiver", {"i": variables})
    receiver = removed["removeHeaderFromWebhookReceiver"]["webhookReceiver"]
    assert receiver["_HeadersCount"] == 0

    update = """mutation($i: UpdateWebhookReceiverInput!) {
      updateWebhookReceiver(input: $i) { webhookReceiver { _etag active webhookUri } } }"""
    changes = {
        "id": hook["id"],
        "etag": receiver["_etag"],
        "active": False,
        "webhookUri": "https://y.test/",
    }
    edited = ion_standin.data(update, {"i": changes})["updateWebhookReceiver"]["webhookReceiver"]
    assert (edited["active"], edited["webhookUri"]) == (False, "https://y.test/")
    assert ion_standin.graphql(update, {"i": {**changes, "etag": edited["_etag"], "name": None}})[
        "errors"
    ]
    delete = """mutation($id: ID!, $etag: String!) {
      deleteWebhookReceiver(id: $id, etag: $etag) { id } }"""
    ion_standin.data(delete, {"id": hook["id"], "etag": edited["_etag"]})
    left = ion_standin.data("{ webhookSubscriptions { pageInfo { totalCount } } }")
    assert left["webhookSubscriptions"]["pageInfo"]["totalCount"] == 0
