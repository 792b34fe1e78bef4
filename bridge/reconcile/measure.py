"""Gap-closure times: from ION's change to Violet accepting the repair, per kind of repair.

A repair's gap starts at the ION change it repairs (`Repair.changed_at`: the object's or the
linked object's `_updated`, a new line's `_created`) and ends when Violet answers 2xx to the
repair's delivery (`Outgoing.completed_at`, seen through the bridge's `on_delivered` hook). Both
clocks are wall clocks; on one machine (the demo, the tests) they agree.

Kept in memory per process (bounded), summarised as median / p95 / max seconds per kind, and
written to `bridge_state` ("reconcile.gap_closure") after each scheduled run so another process
(`bridge status`, the demo) can read it.
"""

from __future__ import annotations

import statistics
from collections import OrderedDict, deque
from datetime import datetime
from typing import Any

from bridge.clock import as_utc
from bridge.delivery.claims import Outgoing
from bridge.reconcile.repairs import Repair
from bridge.store.models import DeliveryStatus

STATE_KEY = "reconcile.gap_closure"
_MAX_SAMPLES = 5000
_MAX_EXPECTED = 50_000


def summarize(samples: list[float]) -> dict[str, float | int]:
    """count, median, p95 and max of gap-closure seconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "count": len(ordered),
        "median_s": round(statistics.median(ordered), 3),
        "p95_s": round(p95, 3),
        "max_s": round(ordered[-1], 3),
    }


class GapClosure:
    """Expected repairs by webhook id; closure times by kind once delivered."""

    def __init__(self) -> None:
        self._expected: OrderedDict[str, tuple[str, datetime]] = OrderedDict()
        self.samples: dict[str, deque[float]] = {}

    def expect(self, queued: list[tuple[str, Repair]]) -> None:
        """Remember repairs just committed to the outbox (the `Reconciler.on_committed` hook)."""
        for webhook_id, repair in queued:
            if repair.changed_at is None:
                continue
            self._expected[webhook_id] = (repair.kind, as_utc(repair.changed_at))
            while len(self._expected) > _MAX_EXPECTED:
                self._expected.popitem(last=False)

    def delivered(self, delivery: Outgoing) -> None:
        """Close the gap of a repair Violet accepted (the bridge's `on_delivered` hook)."""
        expected = self._expected.pop(delivery.webhook_id, None)
        if expected is None or delivery.status != DeliveryStatus.SUCCEEDED:
            return
        kind, changed_at = expected
        if delivery.completed_at is None:
            return
        seconds = (as_utc(delivery.completed_at) - changed_at).total_seconds()
        self.samples.setdefault(kind, deque(maxlen=_MAX_SAMPLES)).append(max(seconds, 0.0))

    def summary(self) -> dict[str, Any]:
        """Per kind of repair: count, median, p95 and max seconds from ION change to Violet."""
        return {kind: summarize(list(values)) for kind, values in sorted(self.samples.items())}
