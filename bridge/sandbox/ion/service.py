"""ION's writes to its business tables, and what each one sets off.

Every write goes through here, whether it came from a GraphQL mutation or a `/_sandbox/` route:
it checks links, stores the row, keeps the purchase order roll-ups current, and fires webhooks
shaped by the limitations switched on at that moment.

Roll-ups: a purchase order's `needDate` (earliest line need date), `estimatedArrivalDate` (latest
line arrival), `estimatedCost` (sum of line quantity x cost) and `estimatedTotalCost` (that plus
the order's own deprecated `cost`) are not settable through ION's inputs; they change when lines
change, as ordinary writes to the order that fire UPDATE webhooks.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bridge.sandbox.ion import shapes
from bridge.sandbox.ion.tables import (
    LOCATIONS,
    PARTS,
    PURCHASE_ORDER_LINES,
    PURCHASE_ORDERS,
    RESOURCES,
    SUPPLIERS,
    TABLES,
)
from bridge.sandbox.ion.webhooks import WebhookEngine
from bridge.sandbox.ion.world import Invalid, IonWorld, Row

#: Columns the `late_fields` limitation holds back on create, by table.
LATE_FIELDS = {
    PURCHASE_ORDERS: ("estimatedTotalCost", "estimatedArrivalDate"),
    PURCHASE_ORDER_LINES: ("estimatedArrivalDate", "cost"),
}


class IonService:
    """The business writes; also the GraphQL context (resolvers reach the world through it)."""

    def __init__(self, world: IonWorld, webhooks: WebhookEngine) -> None:
        self.world = world
        self.webhooks = webhooks
        self._timers: dict[tuple[str, int], asyncio.TimerHandle] = {}

    def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def create(self, table: str, values: Row) -> Row:
        world = self.world
        self._check_links(table, values, None)
        values = dict(values)
        if table == PURCHASE_ORDER_LINES and values.get("status") is None:
            # A line added to an order starts in the order's status.
            values["status"] = world.get(PURCHASE_ORDERS, values["purchaseOrderId"])["status"]
        if table == PURCHASE_ORDERS:
            # An order without lines: its total is its own cost.
            values["estimatedTotalCost"] = values.get("cost")
        held = self._hold(table, values)
        row = world.insert(table, values)
        if held:
            world.held[(table, row["id"])] = held
            self._later(table, row["id"])
        if not (table == PURCHASE_ORDER_LINES and world.limitations.no_line_create_event):
            self._fire(table, "CREATE", {}, row)
        if table == PURCHASE_ORDER_LINES:
            self._refresh_order(row["purchaseOrderId"])
        return row

    def update(self, table: str, row_id: int, values: Row, etag: str | None) -> Row:
        world = self.world
        self._check_links(table, values, row_id)
        held = world.held.get((table, row_id), {})
        for column in values:
            held.pop(column, None)  # an explicit write wins over a value still held back
        if table == PURCHASE_ORDERS:
            # Its own `cost` feeds the roll-ups: one write carries both.
            values = {**values, **self._rollups({**world.get(table, row_id), **values})}
        before = world.update(table, row_id, values, etag)
        row = world.get(table, row_id)
        self._fire(table, "UPDATE", before, row)
        if table == PURCHASE_ORDER_LINES:
            for order_id in dict.fromkeys((before["purchaseOrderId"], row["purchaseOrderId"])):
                self._refresh_order(order_id)
        if table in (LOCATIONS, SUPPLIERS, PARTS):
            self._notify_referrers(table, before, row)
        return row

    def _check_links(self, table: str, values: Row, row_id: int | None) -> None:
        for link in TABLES[table].links:
            target_id = values.get(link.column)
            if target_id is not None:
                if link.target == table and target_id == row_id:
                    raise Invalid(f"{link.column} cannot point at the row itself")
                self.world.get(link.target, target_id)

    def _hold(self, table: str, values: Row) -> Row:
        """Take the late columns out of `values` (limitation 4); return what was taken."""
        if not self.world.limitations.late_fields:
            return {}
        return {c: values.pop(c) for c in LATE_FIELDS.get(table, ()) if values.get(c) is not None}

    def _later(self, table: str, row_id: int) -> None:
        loop = asyncio.get_running_loop()
        delay = self.world.settle_delay_seconds
        self._timers[(table, row_id)] = loop.call_later(delay, self._settle, table, row_id)

    def _settle(self, table: str, row_id: int) -> None:
        """The follow-up write that fills in the columns held back on create."""
        self._timers.pop((table, row_id), None)
        held = self.world.held.pop((table, row_id), None)
        if held is None or self.world.find(table, row_id) is None:
            return
        if table == PURCHASE_ORDERS:
            self._refresh_order(row_id)
            return
        before = self.world.update(table, row_id, held)
        self._fire(table, "UPDATE", before, self.world.get(table, row_id))
        if table == PURCHASE_ORDER_LINES:
            self._refresh_order(before["purchaseOrderId"])

    def _rollups(self, order: Row) -> Row:
        lines = [
            line
            for line in self.world.rows(PURCHASE_ORDER_LINES)
            if line["purchaseOrderId"] == order["id"]
        ]
        needs = [line["needDate"] for line in lines if line["needDate"] is not None]
        arrivals = [line["estimatedArrivalDate"] for line in lines]
        costs = [
            line["cost"] * (line["quantity"] or 0.0) for line in lines if line["cost"] is not None
        ]
        estimated = round(sum(costs), 6) if costs else None
        total = None
        if estimated is not None or order["cost"] is not None:
            total = round((estimated or 0.0) + (order["cost"] or 0.0), 6)
        values = {
            "needDate": min(needs, default=None),
            "estimatedArrivalDate": max((a for a in arrivals if a is not None), default=None),
            "estimatedCost": estimated,
            "estimatedTotalCost": total,
        }
        held = self.world.held.get((PURCHASE_ORDERS, order["id"]), {})
        return {column: value for column, value in values.items() if column not in held}

    def _refresh_order(self, order_id: int) -> None:
        order = self.world.find(PURCHASE_ORDERS, order_id)
        if order is None:
            return
        before = self.world.update(PURCHASE_ORDERS, order_id, self._rollups(order))
        self._fire(PURCHASE_ORDERS, "UPDATE", before, order)

    def _notify_referrers(self, table: str, before: Row, row: Row) -> None:
        """With linked objects embedded, a renamed location reaches the orders shipping to it."""
        if self.world.limitations.links_as_ids:
            return
        if all(before[name] == row[name] for name in TABLES[table].embed):
            return
        old = {name: shapes.jsonable(before[name]) for name in TABLES[table].embed}
        changes: dict[tuple[str, int], dict[str, Any]] = {}
        for other, referrer, link in shapes.referrers(self.world, table, row["id"]):
            new = shapes.embedded(self.world, link, row["id"])
            changes.setdefault((other, referrer["id"]), {})[link.field] = {"old": old, "new": new}
        for (other, referrer_id), change in changes.items():
            referrer = self.world.get(other, referrer_id)
            data = shapes.row_data(self.world, other, referrer, with_links=True)
            self.webhooks.emit(other, "UPDATE", referrer_id, change, data)

    def _fire(self, table: str, action: str, before: Row, row: Row) -> None:
        if table not in RESOURCES:
            return
        if before == row:
            return  # nothing changed, nothing was written
        limits = self.world.limitations
        with_links = not limits.links_as_ids
        changes: dict[str, Any] = {}
        if action == "UPDATE":
            changes = shapes.row_changes(
                self.world,
                table,
                before,
                row,
                drop_empty_to_populated=limits.empty_to_populated_dropped,
                with_links=with_links,
            )
        data = shapes.row_data(self.world, table, row, with_links=with_links)
        self.webhooks.emit(table, action, row["id"], changes, data)
