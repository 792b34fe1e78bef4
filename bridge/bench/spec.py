"""What a load run is asked to do and what it reports (JSON-able value objects, summaries).

The generator runs in its own process (so it never shares a GIL with the server it measures); these
objects cross the process boundary as JSON on stdin/stdout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Mode = Literal["closed", "open"]
Kind = Literal["bare", "ion"]


@dataclass(frozen=True, kw_only=True)
class RequestSpec:
    """The requests to send: a fixed bare POST, or signed ION webhooks with unique event ids."""

    host: str = "127.0.0.1"
    port: int
    path: str
    kind: Kind = "ion"
    #: ION's shared secret: bodies are signed in `x-ion-signature` when set.
    secret: str | None = None
    #: The receiver's custom header (name, value), sent on every request when set.
    header: tuple[str, str] | None = None
    first_event_id: int = 1
    #: Objects the events are spread over; 0 gives every event an object of its own.
    entities: int = 0
    resource: str = "PURCHASE_ORDERS"


@dataclass(frozen=True, kw_only=True)
class LoadSpec:
    """One run: closed loop (N connections, back to back) or open loop (fixed rate)."""

    request: RequestSpec
    mode: Mode = "closed"
    connections: int = 32
    rate: float = 0.0  # open loop: requests per second
    seconds: float = 5.0  # measured window
    warmup_seconds: float = 1.0  # sent, not measured: connections, caches, JIT-free warm-up
    timeout_seconds: float = 30.0
    #: Keep (event_id, wall-clock send time, status) per measured request (added latency).
    record_sends: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadSpec:
        request = dict(data["request"])
        if request.get("header") is not None:
            request["header"] = tuple(request["header"])
        return cls(**{**data, "request": RequestSpec(**request)})


@dataclass(frozen=True, kw_only=True)
class Send:
    """One measured request: which event, when it left (time.time()), how it was answered."""

    event_id: int
    sent_at: float
    status: int  # 0: no answer (connection error or timeout)


@dataclass(frozen=True, kw_only=True)
class LoadResult:
    """What the generator saw during the measured window."""

    seconds: float
    completed: int  # answered, any status
    statuses: dict[str, int]
    latencies_ms: list[float]  # of 2xx answers; open loop: from the scheduled send time
    errors: int  # connection errors and timeouts
    cpu_seconds: float  # the generator's own CPU time in the window: is it the bottleneck?
    sends: list[Send] = field(default_factory=list)

    @property
    def ok(self) -> int:
        return sum(n for code, n in self.statuses.items() if code.startswith("2"))

    @property
    def rate(self) -> float:
        """2xx answers per second."""
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def cpu_share(self) -> float:
        """The generator's CPU time over wall time; near 1.0 means it ran out of CPU."""
        return self.cpu_seconds / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadResult:
        sends = [Send(**item) for item in data.get("sends", [])]
        return cls(**{**data, "sends": sends})


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile (`fraction` in 0..1) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(fraction * len(ordered)), 1)
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float | None:
    return percentile(values, 0.5)


def summarize(result: LoadResult, *, server_cpu: float | None = None) -> dict[str, Any]:
    """Rate, latency percentiles, statuses and who used how much CPU, for one run."""
    latencies = result.latencies_ms
    summary: dict[str, Any] = {
        "rate": round(result.rate, 1),
        "ok": result.ok,
        "completed": result.completed,
        "errors": result.errors,
        "statuses": result.statuses,
        "p50_ms": _round(percentile(latencies, 0.50)),
        "p90_ms": _round(percentile(latencies, 0.90)),
        "p99_ms": _round(percentile(latencies, 0.99)),
        "max_ms": _round(max(latencies, default=None)),
        "seconds": result.seconds,
        "generator_cpu": round(result.cpu_share, 2),
    }
    if server_cpu is not None:
        summary["server_cpu"] = round(server_cpu, 2)
    return summary


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
