"""The stand-ins, each in a process of its own, for the bench and the drills.

    python -m bridge.bench.standins violet --port P --token T

In its own process the Violet stand-in's work (logging, applying to its view) is not charged to
the bridge or the load generator. It is reached over its HTTP routes only (`/_sandbox/...`).
"""

from __future__ import annotations

import argparse
from typing import Any

import httpx
import uvicorn

from bridge.sandbox.violet import VioletWorld
from bridge.sandbox.violet import create_app as create_violet
from bridge.settings import EVENT_LOOP


class VioletClient:
    """The `/_sandbox/` routes of a Violet stand-in, read incrementally."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.http = httpx.Client(base_url=self.url, timeout=60, trust_env=False)
        self._seen = 0
        self.log: list[dict[str, Any]] = []

    @property
    def hook_url(self) -> str:
        return f"{self.url}/hooks/{self.token}"

    def fetch(self) -> list[dict[str, Any]]:
        """Every request logged since the last call, appended to `self.log`."""
        answer = self.http.get("/_sandbox/requests", params={"since": self._seen})
        answer.raise_for_status()
        new: list[dict[str, Any]] = answer.json()
        self._seen += len(new)
        self.log.extend(new)
        return new

    def faults(self, spec: dict[str, Any] | None) -> None:
        """Switch faults on (`spec`) or off (None)."""
        if spec is None:
            self.http.delete("/_sandbox/faults").raise_for_status()
        else:
            self.http.post("/_sandbox/faults", json=spec).raise_for_status()

    def reset(self) -> None:
        self.http.post("/_sandbox/reset").raise_for_status()
        self._seen = 0
        self.log.clear()

    def close(self) -> None:
        self.http.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("which", choices=["violet"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", default="bench-token")
    args = parser.parse_args()
    app = create_violet(VioletWorld(token=args.token))
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        loop=EVENT_LOOP,
    )


if __name__ == "__main__":
    main()
