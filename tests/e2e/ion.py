"""Wiring the ION stand-in to a running bridge, the way `bridge setup` would: a receiver with a
shared secret and a custom header token, subscribed to CREATE and UPDATE of every resource."""

from __future__ import annotations

from typing import Any

import httpx

from bridge.sandbox.demo import RESOURCES, StandIns
from tests.harness import HEADER, SECRET, TOKEN

RECEIVER = """
mutation($input: CreateWebhookReceiverInput!) {
  createWebhookReceiver(input: $input) { webhookReceiver { id _etag } }
}"""
HEADER_MUTATION = """
mutation($input: CreateWebhookHeaderInput!) {
  createWebhookHeader(input: $input) { webhookHeader { id } }
}"""
ATTACH = """
mutation($input: WebhookReceiverHeaderInput) {
  addHeaderToWebhookReceiver(input: $input) { webhookReceiver { id } }
}"""
SUBSCRIBE = """
mutation($input: CreateWebhookSubscriptionInput!) {
  createWebhookSubscription(input: $input) { webhookSubscription { id } }
}"""


class IonAdmin:
    def __init__(self, stands: StandIns, http: httpx.Client) -> None:
        form = {
            "grant_type": "client_credentials",
            "client_id": stands.client_id,
            "client_secret": stands.client_secret,
        }
        token = http.post(stands.token_url, data=form).json()["access_token"]
        self.http = http
        self.url = f"{stands.ion_url}/graphql"
        self.headers = {"Authorization": f"Bearer {token}"}

    def run(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        answer = self.http.post(
            self.url, json={"query": query, "variables": variables}, headers=self.headers
        )
        payload: dict[str, Any] = answer.json()
        assert "errors" not in payload, payload
        data: dict[str, Any] = payload["data"]
        return data


def subscribe_bridge(stands: StandIns, inbox_url: str) -> None:
    """A receiver pointing at the bridge's inbox, signing with SECRET and sending HEADER."""
    with httpx.Client(timeout=10) as http:
        ion = IonAdmin(stands, http)
        receiver = ion.run(
            RECEIVER,
            {"input": {"name": "bridge", "webhookUri": inbox_url, "sharedSecret": SECRET}},
        )["createWebhookReceiver"]["webhookReceiver"]
        header = ion.run(HEADER_MUTATION, {"input": {"key": HEADER, "value": TOKEN}})
        ion.run(
            ATTACH,
            {
                "input": {
                    "etag": receiver["_etag"],
                    "webhookReceiverId": int(receiver["id"]),
                    "webhookHeaderId": int(header["createWebhookHeader"]["webhookHeader"]["id"]),
                }
            },
        )
        for resource in RESOURCES:
            for action in ("CREATE", "UPDATE"):
                subscription = {
                    "resource": resource,
                    "action": action,
                    "receiverId": int(receiver["id"]),
                }
                ion.run(SUBSCRIBE, {"input": subscription})


def ion_events(stands: StandIns) -> list[dict[str, Any]]:
    """Every webhook event the ION stand-in recorded, with its body."""
    with httpx.Client(timeout=10) as http:
        events: list[dict[str, Any]] = http.get(f"{stands.ion_url}/_sandbox/webhooks").json()
    return events
