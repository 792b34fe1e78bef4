"""Objects the bridge knew that a full walk no longer finds in ION.

Only `--full` can tell (an incremental walk sees changes, not absences). They are reported; they
are sent to Violet as DELETE events only when the bridge is configured to forward DELETEs
(`subscribe_actions` includes DELETE), since otherwise Violet is not meant to see deletions.
"""

from __future__ import annotations

from collections.abc import Set
from datetime import datetime

import anyio.to_thread
import structlog
from sqlmodel import col, select

from bridge.delivery.outbox import enqueue_repair
from bridge.delivery.serial import write_scope
from bridge.inbox.codec import build_event
from bridge.reconcile.sync import Reconciler
from bridge.store.models import Snapshot

log = structlog.get_logger(__name__)


async def handle(
    reconciler: Reconciler,
    resource: str,
    seen: Set[str],
    *,
    walk_started: datetime,
    delete: bool,
    dry_run: bool,
) -> int:
    """Report (and with `delete`, send DELETE for) snapshots a full walk did not see."""

    def work() -> int:
        with write_scope(reconciler.engine) as session:
            # Objects first seen after the walk began may simply be newer than it.
            rows = session.exec(
                select(Snapshot).where(
                    Snapshot.resource == resource, col(Snapshot.first_seen_at) < walk_started
                )
            ).all()
            gone = [row for row in rows if row.entity_id not in seen]
            if gone:
                log.warning(
                    "reconcile.disappeared",
                    resource=resource,
                    count=len(gone),
                    ids=[row.entity_id for row in gone[:20]],
                )
            if delete and not dry_run:
                now = reconciler.clock()
                for row in gone:
                    entity = int(row.entity_id) if row.entity_id.isdigit() else row.entity_id
                    body = build_event(
                        resource=resource,
                        action="DELETE",
                        entity_id=entity,
                        data={"id": entity},
                        now=now,
                    )
                    enqueue_repair(
                        session,
                        resource=resource,
                        entity_id=row.entity_id,
                        action="DELETE",
                        body=body,
                        now=now,
                    )
                    session.delete(row)
            return len(gone)

    async with reconciler.write_lock:
        return await anyio.to_thread.run_sync(work)
