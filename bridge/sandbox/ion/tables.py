"""The stand-in's tables: columns, defaults and relations, described once.

Rows are plain dicts keyed by GraphQL field names (`shipToLocationId`), so the default GraphQL
resolver reads them directly and `tracked.snake()` turns them into the database column names
ION's webhook bodies use. The five business tables are named after their `ResourceEnum` value,
which is also the `resource` of their webhook bodies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PURCHASE_ORDERS = "PURCHASE_ORDERS"
PURCHASE_ORDER_LINES = "PURCHASE_ORDER_LINES"
LOCATIONS = "LOCATIONS"
SUPPLIERS = "SUPPLIERS"
PARTS = "PARTS"
RECEIVERS = "WEBHOOK_RECEIVERS"
SUBSCRIPTIONS = "WEBHOOK_SUBSCRIPTIONS"
EVENTS = "WEBHOOK_EVENTS"
HEADERS = "WEBHOOK_HEADERS"

#: Tables whose writes fire webhooks (their names are ResourceEnum values).
RESOURCES = (PURCHASE_ORDERS, PURCHASE_ORDER_LINES, LOCATIONS, SUPPLIERS, PARTS)

_STAMPS = ("_created", "_updated", "_etag")
_AUDIT = ("createdById", "updatedById")


@dataclass(frozen=True, kw_only=True)
class Link:
    """A many-to-one relation: `column` on this row holds the id of a row of `target`."""

    field: str
    column: str
    target: str
    #: Embedded in webhook bodies when the `links_as_ids` limitation is off.
    embedded: bool = False


@dataclass(frozen=True, kw_only=True)
class Backref:
    """A one-to-many relation: rows of `target` whose `column` holds this row's id."""

    field: str
    target: str
    column: str


@dataclass(frozen=True, kw_only=True)
class Table:
    name: str
    typename: str
    columns: tuple[str, ...]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    enums: frozenset[str] = frozenset()
    links: tuple[Link, ...] = ()
    backrefs: tuple[Backref, ...] = ()
    #: The fields a linked object carries when embedded in another object's body.
    embed: tuple[str, ...] = ()

    def link(self, name: str) -> Link | None:
        return next((link for link in self.links if link.field == name), None)

    def backref(self, name: str) -> Backref | None:
        return next((ref for ref in self.backrefs if ref.field == name), None)


def _columns(names: str, *groups: tuple[str, ...]) -> tuple[str, ...]:
    return (*names.split(), *(column for group in groups for column in group))


TABLES: dict[str, Table] = {
    PURCHASE_ORDERS: Table(
        name=PURCHASE_ORDERS,
        typename="PurchaseOrder",
        # needDate, estimatedArrivalDate and the estimated costs are roll-ups of the lines:
        # ION's inputs cannot set them, so the stand-in keeps them as materialized columns.
        columns=_columns(
            "id description status supplierId shipToLocationId billToLocationId currencyId "
            "assignedToId orderedAt paid cost supplierInstructions needDate "
            "estimatedArrivalDate estimatedCost estimatedTotalCost entityId",
            _AUDIT,
            _STAMPS,
        ),
        defaults={"status": "DRAFT", "paid": False},
        enums=frozenset({"status"}),
        links=(
            Link(field="supplier", column="supplierId", target=SUPPLIERS, embedded=True),
            Link(
                field="shipToLocation", column="shipToLocationId", target=LOCATIONS, embedded=True
            ),
            Link(
                field="billToLocation", column="billToLocationId", target=LOCATIONS, embedded=True
            ),
        ),
        backrefs=(
            Backref(
                field="purchaseOrderLines", target=PURCHASE_ORDER_LINES, column="purchaseOrderId"
            ),
        ),
    ),
    PURCHASE_ORDER_LINES: Table(
        name=PURCHASE_ORDER_LINES,
        typename="PurchaseOrderLine",
        columns=_columns(
            "id purchaseOrderId partId status description position cost quantity needDate "
            "estimatedArrivalDate paid entityId",
            _AUDIT,
            _STAMPS,
        ),
        defaults={"quantity": 1.0, "paid": False},
        enums=frozenset({"status"}),
        links=(
            Link(field="purchaseOrder", column="purchaseOrderId", target=PURCHASE_ORDERS),
            Link(field="part", column="partId", target=PARTS, embedded=True),
        ),
    ),
    LOCATIONS: Table(
        name=LOCATIONS,
        typename="Location",
        columns=_columns(
            "id name address description type available archived parentId latitude longitude "
            "contactId imageId locationSubtypeId supervisorId entityId",
            _AUDIT,
            _STAMPS,
        ),
        defaults={"available": True, "archived": False},
        enums=frozenset({"type"}),
        links=(Link(field="parent", column="parentId", target=LOCATIONS),),
        backrefs=(Backref(field="locations", target=LOCATIONS, column="parentId"),),
        embed=("id", "name", "address"),
    ),
    SUPPLIERS: Table(
        name=SUPPLIERS,
        typename="Supplier",
        columns=_columns(
            "id name description phoneNumber address email contactName entityId",
            _AUDIT,
            _STAMPS,
        ),
        backrefs=(Backref(field="purchaseOrders", target=PURCHASE_ORDERS, column="supplierId"),),
        embed=("id", "name", "address"),
    ),
    PARTS: Table(
        name=PARTS,
        typename="Part",
        columns=_columns(
            "id partNumber revision description partType cost leadTime supplierPartNumber "
            "revisionScheme revisedFromId trackingType sourcingStrategy exportControlled "
            "entityId",
            _AUDIT,
            _STAMPS,
        ),
        defaults={"revision": "A", "partType": "PART", "exportControlled": False},
        enums=frozenset({"partType", "trackingType", "sourcingStrategy"}),
        links=(Link(field="revisedFrom", column="revisedFromId", target=PARTS),),
        backrefs=(
            Backref(field="purchaseOrderLines", target=PURCHASE_ORDER_LINES, column="partId"),
            Backref(field="revisions", target=PARTS, column="revisedFromId"),
        ),
        embed=("id", "partNumber", "revision", "description"),
    ),
    RECEIVERS: Table(
        name=RECEIVERS,
        typename="WebhookReceiver",
        columns=_columns(
            "id name description webhookUri sharedSecret contentType expectedResponseCode active",
            _AUDIT,
            _STAMPS,
        ),
        defaults={"contentType": "JSON", "expectedResponseCode": 200, "active": True},
        enums=frozenset({"contentType"}),
        backrefs=(Backref(field="subscriptions", target=SUBSCRIPTIONS, column="receiverId"),),
    ),
    SUBSCRIPTIONS: Table(
        name=SUBSCRIPTIONS,
        typename="WebhookSubscription",
        columns=_columns(
            "id resource action receiverId active",
            _AUDIT,
            _STAMPS,
        ),
        defaults={"active": True},
        enums=frozenset({"resource", "action"}),
        links=(Link(field="receiver", column="receiverId", target=RECEIVERS),),
        backrefs=(Backref(field="events", target=EVENTS, column="subscriptionId"),),
    ),
    EVENTS: Table(
        name=EVENTS,
        typename="WebhookEvent",
        columns=_columns(
            "id subscriptionId status numberOfRetries requestData responseStatusCode "
            "responseData responseReceivedAt",
            _STAMPS,
        ),
        defaults={"status": "SENDING", "numberOfRetries": 0},
        enums=frozenset({"status"}),
        links=(Link(field="subscription", column="subscriptionId", target=SUBSCRIPTIONS),),
    ),
    HEADERS: Table(
        name=HEADERS,
        typename="WebhookHeader",
        columns=_columns(
            "id key value",
            _AUDIT,
            _STAMPS,
        ),
    ),
}

TABLE_OF_TYPE: dict[str, Table] = {table.typename: table for table in TABLES.values()}
