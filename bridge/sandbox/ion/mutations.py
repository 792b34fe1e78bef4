"""Writing: ION's mutations, each mapped onto the service or the webhook tables.

Create and update inputs name the columns they set, so most mutations pass their input through;
updates take `id` and `etag` out first. Inputs may send `null` only for columns that are nullable
on the object type, as ION's database would insist.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import httpx
from graphql import GraphQLResolveInfo, GraphQLSchema, is_non_null_type

from bridge.sandbox.ion.resolvers import object_type, parse_id, view
from bridge.sandbox.ion.service import IonService
from bridge.sandbox.ion.tables import (
    HEADERS,
    LOCATIONS,
    PURCHASE_ORDER_LINES,
    PURCHASE_ORDERS,
    RECEIVERS,
    SUBSCRIPTIONS,
    SUPPLIERS,
    TABLES,
)
from bridge.sandbox.ion.world import Invalid

Resolver = Callable[..., Any]

#: Mutation name -> (table, payload field) for the plain create/update mutations.
_WRITES = {
    "createPurchaseOrder": (PURCHASE_ORDERS, "purchaseOrder"),
    "updatePurchaseOrder": (PURCHASE_ORDERS, "purchaseOrder"),
    "createPurchaseOrderLine": (PURCHASE_ORDER_LINES, "purchaseOrderLine"),
    "updatePurchaseOrderLine": (PURCHASE_ORDER_LINES, "purchaseOrderLine"),
    "createLocation": (LOCATIONS, "location"),
    "updateLocation": (LOCATIONS, "location"),
    "createSupplier": (SUPPLIERS, "supplier"),
    "updateSupplier": (SUPPLIERS, "supplier"),
    "createWebhookReceiver": (RECEIVERS, "webhookReceiver"),
    "updateWebhookReceiver": (RECEIVERS, "webhookReceiver"),
    "createWebhookSubscription": (SUBSCRIPTIONS, "webhookSubscription"),
    "updateWebhookSubscription": (SUBSCRIPTIONS, "webhookSubscription"),
    "createWebhookHeader": (HEADERS, "webhookHeader"),
}


def _service(info: GraphQLResolveInfo) -> IonService:
    service: IonService = info.context
    return service


def _check_nulls(info: GraphQLResolveInfo, table: str, values: dict[str, Any]) -> None:
    fields = object_type(info.schema.get_type(TABLES[table].typename)).fields
    for name, value in values.items():
        if value is None and is_non_null_type(fields[name].type):
            raise Invalid(f"{name} cannot be null")


def _prepare(table: str, values: dict[str, Any], *, creating: bool) -> None:
    """What ION does to particular inputs before they reach the row."""
    if table == RECEIVERS:
        if creating and not values.get("sharedSecret"):
            values["sharedSecret"] = secrets.token_hex(32)
        if values.get("webhookUri") is not None:
            try:
                url = httpx.URL(values["webhookUri"])
            except httpx.InvalidURL as exc:
                raise Invalid(f"webhookUri is not a URL: {exc}") from None
            # ION itself insists on https; the stand-in accepts http for loopback receivers.
            if url.scheme not in {"http", "https"} or not url.host:
                raise Invalid("webhookUri must be an absolute http(s) URL")
    if table == SUBSCRIPTIONS and "receiverId" in values:
        if values["receiverId"] is None:
            raise Invalid("receiverId is required")
        values["receiverId"] = parse_id(values["receiverId"])


def _write(mutation: str) -> Resolver:
    table, payload = _WRITES[mutation]
    creating = mutation.startswith("create")

    def resolve(_root: Any, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
        values = dict(input)
        if creating and table == SUBSCRIPTIONS:
            values.setdefault("receiverId", None)
        row_id = None if creating else parse_id(values.pop("id"))
        etag = None if creating else values.pop("etag")
        _check_nulls(info, table, values)
        _prepare(table, values, creating=creating)
        service = _service(info)
        if row_id is None:
            row = service.create(table, values)
        else:
            row = service.update(table, row_id, values, etag)
        return {payload: view(table, row)}

    return resolve


def _delete_subscription(_root: Any, info: GraphQLResolveInfo, etag: str, id: str) -> Any:
    row = _service(info).world.delete(SUBSCRIPTIONS, parse_id(id), etag)
    return {"id": row["id"]}


def _delete_receiver(_root: Any, info: GraphQLResolveInfo, etag: str, id: str) -> Any:
    world = _service(info).world
    row = world.delete(RECEIVERS, parse_id(id), etag)
    # Its subscriptions go with it; their recorded events stay as the audit trail.
    for subscription in world.rows(SUBSCRIPTIONS):
        if subscription["receiverId"] == row["id"]:
            world.delete(SUBSCRIPTIONS, subscription["id"])
    world.receiver_headers.pop(row["id"], None)
    return {"id": row["id"]}


def _header_link(attach: bool) -> Resolver:
    def resolve(_root: Any, info: GraphQLResolveInfo, input: dict[str, Any] | None = None) -> Any:
        if input is None:
            raise Invalid("input is required")
        world = _service(info).world
        receiver_id, header_id = input["webhookReceiverId"], input["webhookHeaderId"]
        world.get(HEADERS, header_id)
        world.check_etag(RECEIVERS, world.get(RECEIVERS, receiver_id), input["etag"])
        headers = world.receiver_headers.setdefault(receiver_id, [])
        if attach and header_id not in headers:
            headers.append(header_id)
        elif not attach:
            if header_id not in headers:
                raise Invalid(f"header {header_id} is not on webhook receiver {receiver_id}")
            headers.remove(header_id)
        world.touch(RECEIVERS, receiver_id)
        return {"webhookReceiver": view(RECEIVERS, world.get(RECEIVERS, receiver_id))}

    return resolve


def wire(schema: GraphQLSchema) -> None:
    """Attach a resolver to every mutation of the stand-in's schema."""
    special: dict[str, Resolver] = {
        "deleteWebhookSubscription": _delete_subscription,
        "deleteWebhookReceiver": _delete_receiver,
        "addHeaderToWebhookReceiver": _header_link(attach=True),
        "removeHeaderFromWebhookReceiver": _header_link(attach=False),
    }
    for name, field in object_type(schema.mutation_type).fields.items():
        field.resolve = special[name] if name in special else _write(name)
