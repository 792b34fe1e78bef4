"""What `bridge status` reports: a dict of sections, each plain JSON data.

    {"ion":        receiver and subscriptions in ION versus the config (drift),
     "deliveries": delivery counts by status, age of the oldest open delivery,
     "reconcile":  the last reconciliation runs}

Sections are independent so other capabilities can add theirs: build a dict, merge it in, and
give `bridge.provision.report` a renderer for it (a section without one prints as key/value).
The ION section is derived from the same plan `bridge setup --prune` would make, so "in sync"
means exactly "setup would do nothing".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bridge.clock import as_utc, isoformat_z
from bridge.ion.client import IonClient
from bridge.provision.credentials import load_stored
from bridge.provision.observe import observe
from bridge.provision.plan import make_plan
from bridge.provision.state import StoredCredential, compare_subscriptions
from bridge.settings import Settings
from bridge.store.db import session_scope
from bridge.store.models import Delivery, DeliveryStatus, ReconcileRun

LAST_RUNS = 5


async def collect_ion_status(ion: IonClient, settings: Settings, engine: Engine) -> dict[str, Any]:
    """The `ion` section: the bridge's receiver and subscriptions in ION versus the config."""
    stored = load_stored(engine, settings)
    observation = await observe(ion, settings, stored.receiver_id if stored else None)
    desired = observation.desired
    plan = make_plan(desired, observation.receivers, stored, prune=True)
    receiver = plan.receiver
    diff = compare_subscriptions(desired.subscriptions, receiver.subscriptions if receiver else ())
    rows: list[dict[str, Any]] = [
        {"resource": r, "action": a, "state": "missing", "id": None} for r, a in diff.missing
    ]
    for state, subs in (
        ("ok", diff.ok),
        ("inactive", diff.inactive),
        ("duplicate", diff.duplicates),
        ("extra", diff.extra),
    ):
        rows += [
            {"resource": s.pair[0], "action": s.pair[1], "state": state, "id": s.id} for s in subs
        ]
    rows.sort(key=lambda row: (row["resource"], row["action"], row["id"] or 0))
    return {
        "in_sync": plan.is_empty,
        "webhook_uri": desired.webhook_uri,
        "receiver": None
        if receiver is None
        else {
            "id": receiver.id,
            "name": receiver.name,
            "webhook_uri": receiver.webhook_uri,
            "url_matches": receiver.webhook_uri == desired.webhook_uri,
            "active": receiver.active,
            "secret": _secret_state(receiver.secret_sha256, stored),
        },
        "subscriptions": rows,
        "unknown_resources": list(desired.unknown_resources),
        "setup_would": [step.describe() for step in plan.steps],
        "notes": list(plan.notes),
    }


def _secret_state(ion_sha256: str | None, stored: StoredCredential | None) -> str:
    if stored is None:
        return "not stored"
    if stored.secret_sha256 is None:
        return "stored, unreadable"
    if ion_sha256 is None:
        return "stored (ION does not show its copy)"
    return "in sync" if ion_sha256 == stored.secret_sha256 else "differs"


def collect_local_status(engine: Engine, now: datetime) -> dict[str, Any]:
    """The `deliveries` and `reconcile` sections, read from the bridge's database."""
    with session_scope(engine) as session:
        counted = session.exec(
            select(Delivery.status, func.count()).group_by(col(Delivery.status))
        ).all()
        oldest = session.exec(
            select(func.min(Delivery.received_at)).where(
                col(Delivery.status).in_(DeliveryStatus.OPEN)
            )
        ).one()
        runs = session.exec(
            select(ReconcileRun).order_by(col(ReconcileRun.id).desc()).limit(LAST_RUNS)
        ).all()
    counts = dict.fromkeys(DeliveryStatus.ALL, 0)
    counts.update({status: int(n) for status, n in counted})
    return {
        "deliveries": {
            "counts": counts,
            "oldest_open_age_seconds": None
            if oldest is None
            else round((as_utc(now) - as_utc(oldest)).total_seconds(), 3),
        },
        "reconcile": {"last_runs": [_run(run) for run in runs]},
    }


def _run(run: ReconcileRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "trigger": run.trigger,
        "status": run.status,
        "started_at": isoformat_z(run.started_at),
        "finished_at": isoformat_z(run.finished_at) if run.finished_at else None,
        "duration_ms": run.duration_ms,
        "counts": run.counts or {},
        "error": run.error,
    }
