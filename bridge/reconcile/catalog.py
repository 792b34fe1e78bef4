"""The resources the reconciler walks: their GraphQL documents and how they reference each other.

Each resource is fetched with one document (`graphql/reconcile/<document>.graphql`) that takes
`filters`, `sort` and `first` as variables, so the same document serves the incremental walk, the
new-line poll, targeted fetches by id and the look-up of objects that embed a changed one.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.errors import ConfigError
from bridge.reconcile.violet_view import tracked_resource


@dataclass(frozen=True, kw_only=True)
class ResourceSpec:
    """One resource as the reconciler fetches it."""

    resource: str  # plural ResourceEnum spelling, e.g. PURCHASE_ORDERS
    document: str  # operation name (= file name under graphql/reconcile/)
    field: str  # the collection's root field in the answer


@dataclass(frozen=True, kw_only=True)
class Reference:
    """Objects of `referrer` embed an object of `target`, found through the FK `column`.

    When the target's fields change, ION fires nothing for the referrers (their rows did not
    change), yet Violet's copy of them is now wrong: they must be re-sent complete.
    """

    referrer: str
    column: str
    target: str


SPECS: dict[str, ResourceSpec] = {
    spec.resource: spec
    for spec in (
        ResourceSpec(resource="SUPPLIERS", document="ReconcileSuppliers", field="suppliers"),
        ResourceSpec(resource="LOCATIONS", document="ReconcileLocations", field="locations"),
        ResourceSpec(resource="PARTS", document="ReconcileParts", field="parts"),
        ResourceSpec(
            resource="PURCHASE_ORDERS", document="ReconcilePurchaseOrders", field="purchaseOrders"
        ),
        ResourceSpec(
            resource="PURCHASE_ORDER_LINES",
            document="ReconcilePurchaseOrderLines",
            field="purchaseOrderLines",
        ),
    )
}

REFERENCES: tuple[Reference, ...] = (
    Reference(referrer="PURCHASE_ORDERS", column="shipToLocationId", target="LOCATIONS"),
    Reference(referrer="PURCHASE_ORDERS", column="supplierId", target="SUPPLIERS"),
    Reference(referrer="PURCHASE_ORDER_LINES", column="partId", target="PARTS"),
)

PO_LINES = "PURCHASE_ORDER_LINES"


def references_to(target: str) -> tuple[Reference, ...]:
    return tuple(ref for ref in REFERENCES if ref.target == target)


def resolve(names: tuple[str, ...] | list[str], *, setting: str) -> list[str]:
    """Configured resource names (either spelling) as plural names, in walk order.

    Linked objects are walked before the objects embedding them, so that one run's referrer
    repairs already carry the newest linked fields.
    """
    wanted: set[str] = set()
    for name in names:
        resource = tracked_resource(name)
        if resource is None or resource not in SPECS:
            raise ConfigError(setting, f"{name!r} is not a resource the reconciler can walk")
        wanted.add(resource)
    return [resource for resource in SPECS if resource in wanted]
