"""Prometheus metrics, one registry per app (tests and several apps in a process never collide).

Counters and histograms are updated where things happen; the queue gauges (depth, age of the
oldest pending delivery) are read from the database when `/metrics` is scraped, since other
processes and the CLI change the queue too.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from bridge.logs import dropped_lines

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

#: End-to-end lag from "stored" to "Violet said 2xx": milliseconds when healthy, hours in outages.
_LATENCY_BUCKETS = (
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    300,
    1800,
    3600,
    21600,
    86400,
)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    """Every metric the bridge exports, registered in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.received = Counter(
            "bridge_webhooks_received",
            "ION deliveries stored, by kind (event: parsed; passthrough: forwarded unparsed)",
            ["kind"],
            registry=r,
        )
        self.duplicates = Counter(
            "bridge_webhooks_duplicates",
            "ION deliveries already stored (answered, not resent)",
            registry=r,
        )
        self.superseded = Counter(
            "bridge_webhooks_superseded",
            "ION events older than one already accepted for the object (stored, not sent)",
            registry=r,
        )
        self.rejected = Counter(
            "bridge_webhooks_rejected", "ION deliveries refused, by reason", ["reason"], registry=r
        )
        self.ingest_batch = Histogram(
            "bridge_ingest_batch_size",
            "Deliveries committed per group commit",
            buckets=_BATCH_BUCKETS,
            registry=r,
        )
        self.attempts = Counter(
            "bridge_delivery_attempts",
            "Attempts to deliver to Violet, by outcome",
            ["outcome"],
            registry=r,
        )
        self.attempt_seconds = Histogram(
            "bridge_delivery_attempt_seconds",
            "Duration of one request to Violet",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.latency = Histogram(
            "bridge_delivery_latency_seconds",
            "From stored to delivered (2xx from Violet)",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "bridge_queue_depth", "Deliveries not yet settled (PENDING or SENDING)", registry=r
        )
        self.oldest_pending = Gauge(
            "bridge_oldest_pending_age_seconds",
            "Age of the oldest unsettled delivery (0 when none)",
            registry=r,
        )
        self.dead_letters = Gauge(
            "bridge_dead_letters", "Deliveries in FAILED (kept for resend)", registry=r
        )
        self.breaker = Gauge(
            "bridge_breaker_state",
            "Violet circuit breaker: 0 closed, 1 half-open, 2 open",
            registry=r,
        )
        self.paused = Gauge(
            "bridge_destination_paused", "1 while sending is paused after a 410 Gone", registry=r
        )
        self.pruned = Counter(
            "bridge_pruned",
            "Rows deleted past the retention, by kind (deliveries, attempts, runs)",
            ["kind"],
            registry=r,
        )

        r.register(_DroppedLogLines())

    def render(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)


class _DroppedLogLines(Collector):
    """The process's tally of log lines its output stream refused (read when scraped)."""

    def collect(self) -> list[CounterMetricFamily]:
        return [
            CounterMetricFamily(
                "bridge_log_lines_dropped",
                "Log lines that could not be written (a closed or broken output stream)",
                value=dropped_lines(),
            )
        ]
