"""Fixtures of the fault drills: a Violet that can go down, `bridge serve` in subprocesses, and
a drill report written to `var/faults/` (the figures the README quotes).

Short forms run in `make test`; the long variants (marked `slow` too) only when the `faults`
marker is asked for (`make faults`), so `make test` stays fast.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.bench.bridgeproc import BridgeProcess
from bridge.sandbox.serving import ServerThread
from bridge.sandbox.violet import VioletWorld, create_app

REPO = Path(__file__).resolve().parents[2]
REPORTS = REPO / "var" / "faults"

#: Scaled-down timings (the production defaults are minutes): leases, retries and the breaker
#: act within the seconds a drill lasts.
FAST_ENV = {
    "BRIDGE_DELIVERY_POLL_SECONDS": "0.2",
    "BRIDGE_DELIVERY_LEASE_SECONDS": "3",
    "BRIDGE_DELIVERY_RETRY_SCHEDULE": "[0.2, 0.5, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]",
    "BRIDGE_DELIVERY_JITTER": "0.1",
    "BRIDGE_DELIVERY_MIN_BACKOFF_SECONDS": "0.5",
    "BRIDGE_DELIVERY_TIMEOUT_SECONDS": "2",
    "BRIDGE_BREAKER_OPEN_SECONDS": "1",
    "BRIDGE_SHUTDOWN_GRACE_SECONDS": "1",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Long drills run only when asked for by marker (`-m faults`, as `make faults` does)."""
    if "faults" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="long drill: run `make faults`")
    for item in items:
        if "faults" in item.keywords and "slow" in item.keywords:
            item.add_marker(skip)


class Violet:
    """The Violet stand-in on a real port that can be taken down and brought back."""

    def __init__(self, token: str = "drill-token") -> None:  # noqa: S107 -- a test capability
        self.world = VioletWorld(token=token)
        self.server = ServerThread(create_app(self.world))
        self.port = self.server.port
        self.server.start()

    @property
    def hook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.world.hook_path()}"

    def down(self) -> None:
        """Stop listening: the bridge's connections are refused."""
        self.server.stop()

    def up(self) -> None:
        self.server = ServerThread(create_app(self.world), port=self.port)
        self.server.start()

    def received(self) -> list[dict[str, Any]]:
        """Bodies Violet answered 200 to, in arrival order."""
        out = []
        for entry in self.world.requests():
            if entry["status"] == 200:
                body = json.loads(entry["body"])
                if isinstance(body, dict):
                    out.append(body)
        return out

    def arrivals(self) -> Counter[int]:
        """How many times each event id reached Violet (with a 200)."""
        return Counter(b["event_id"] for b in self.received() if isinstance(b.get("event_id"), int))


@pytest.fixture
def violet() -> Iterator[Violet]:
    side = Violet()
    yield side
    side.server.stop()


@pytest.fixture
def start_bridge(tmp_path: Path) -> Iterator[Callable[..., BridgeProcess]]:
    """Start `bridge serve` (prepared database, fast timings); every one is stopped afterwards."""
    started: list[BridgeProcess] = []

    def start(database_url: str, violet_url: str, **env: str) -> BridgeProcess:
        bridge = BridgeProcess(
            database_url=database_url,
            violet_url=violet_url,
            log_dir=tmp_path / "logs",
            env={**FAST_ENV, **env},
            name=f"bridge-{len(started)}",
        )
        started.append(bridge)
        return bridge.prepare().start()

    yield start
    for bridge in started:
        bridge.kill()


@pytest.fixture
def drill_report(request: pytest.FixtureRequest) -> Callable[[dict[str, Any]], None]:
    """Record a drill's figures: a JSON file under var/faults/ and the test's properties."""

    def report(figures: dict[str, Any]) -> None:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        REPORTS.mkdir(parents=True, exist_ok=True)
        (REPORTS / f"{name}.json").write_text(json.dumps(figures, indent=2, default=str) + "\n")
        for key, value in figures.items():
            request.node.user_properties.append((key, value))
        print(f"\n{name}: {json.dumps(figures, default=str)}")

    return report
