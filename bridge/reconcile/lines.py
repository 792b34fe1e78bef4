"""The new-PO-line poll: ION fires nothing when a purchase order line is created.

One query on its own short interval (`reconcile_new_line_poll_seconds`): lines whose `_created`
is at or after the poll's cursor minus a small overlap, walked by keyset on (`_created`, `id`).
Lines Violet has no record of are sent as complete CREATE events; lines already known (repaired
or forwarded) come back from the overlap and are judged quiet. The scheduled walk on `_updated`
remains the safety net, so this overlap can be short.
"""

from __future__ import annotations

from contextlib import aclosing
from datetime import datetime, timedelta

import anyio.to_thread

from bridge.reconcile.catalog import PO_LINES, SPECS
from bridge.reconcile.cursors import LINES_CREATED, load_cursor, newest, save_cursor
from bridge.reconcile.sync import Reconciler, Tally, polling_mode
from bridge.reconcile.walk import Position, pages, walk_start


def poll_overlap(overlap_seconds: float, poll_seconds: float) -> float:
    """The poll's overlap: the configured one, but at most a few poll intervals (the full walk
    covers anything later), so each poll re-reads little."""
    return min(overlap_seconds, max(6 * poll_seconds, 30.0))


class LinePoller:
    def __init__(self, reconciler: Reconciler, *, overlap_seconds: float) -> None:
        self.reconciler = reconciler
        self.overlap = overlap_seconds

    async def poll(self) -> Tally:
        """Find and repair the lines created since the last poll."""
        reconciler = self.reconciler
        cursor = await anyio.to_thread.run_sync(load_cursor, reconciler.engine, LINES_CREATED)
        started = reconciler.clock()
        since: datetime | None
        if cursor is not None and cursor.position is not None:
            since = walk_start(cursor.position.at, self.overlap)
        elif cursor is None:
            # The first poll looks back one overlap; older lines are the full walk's business.
            since = started - timedelta(seconds=self.overlap)
        else:
            since = walk_start(started, self.overlap)
        tally = Tally()
        last: Position | None = None
        walk = pages(
            reconciler.ion,
            SPECS[PO_LINES],
            key="_created",
            page_size=reconciler.page_size,
            clock=reconciler.clock,
            since=since,
        )
        async with aclosing(walk):
            async for page in walk:
                mode = polling_mode(page.fetched_at, self.overlap)
                await reconciler.sync(
                    PO_LINES, page.objects, fetched_at=page.fetched_at, tally=tally, mode=mode
                )
                last = page.position or last
        await anyio.to_thread.run_sync(
            save_cursor, reconciler.engine, LINES_CREATED, newest(cursor, last), reconciler.clock()
        )
        return tally
