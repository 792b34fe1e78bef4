"""The Violet stand-in's whole state: its view, the request log and the fault switches.

One object, built by the caller and handed to `create_app`, so a test can hold the same world the
server uses. Handlers run on the server's event loop while a test may read from its own thread,
hence the lock around every read and write.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.sandbox.violet.faults import Decision, Faults
from bridge.sandbox.violet.view import View


@dataclass(frozen=True, kw_only=True)
class LoggedRequest:
    """One request to the hook URL, as received, and what Violet did with it."""

    index: int
    time: float
    headers: dict[str, str]
    body: str
    status: int | None  # None: the connection was dropped without an answer
    applied: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "time": self.time,
            "headers": self.headers,
            "body": self.body,
            "status": self.status,
            "dropped": self.status is None,
            "applied": self.applied,
        }


@dataclass(kw_only=True)
class VioletWorld:
    """Violet as the bridge sees it: a capability URL, a view of ION's data, and its moods."""

    token: str = "demo-token"  # noqa: S105 -- a sandbox capability token, not a secret
    clock: Callable[[], float] = time.time
    view: View = field(default_factory=View)
    faults: Faults = field(default_factory=Faults)
    log: list[LoggedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def hook_path(self) -> str:
        """The path of the capability URL (the token is the credential)."""
        return f"/hooks/{self.token}"

    def set_faults(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Set the fault switches named in `spec` (FaultSpecError if it is malformed)."""
        with self._lock:
            self.faults.update(spec)
            return self.faults.describe()

    def clear_faults(self) -> dict[str, Any]:
        with self._lock:
            self.faults.clear()
            return self.faults.describe()

    def describe_faults(self) -> dict[str, Any]:
        with self._lock:
            return self.faults.describe()

    def decide(self) -> Decision:
        """Consume the fault switches for one incoming request."""
        with self._lock:
            return self.faults.next_decision()

    def receive(
        self, *, at: float, headers: Mapping[str, str], body: bytes, decision: Decision
    ) -> LoggedRequest:
        """Log one request and, unless it was faulted, apply it to the view."""
        text = body.decode("utf-8", errors="replace")
        with self._lock:
            applied = False
            if not decision.faulted:
                applied = self.view.apply(_parse(text), at)
            status = None if decision.drop else (decision.status or 200)
            entry = LoggedRequest(
                index=len(self.log),
                time=at,
                headers={k.lower(): v for k, v in headers.items()},
                body=text,
                status=status,
                applied=applied,
            )
            self.log.append(entry)
            return entry

    def log_rejected(self, *, at: float, headers: Mapping[str, str], body: bytes) -> None:
        """Log a request to a wrong token; it never reaches the view or the fault switches."""
        with self._lock:
            self.log.append(
                LoggedRequest(
                    index=len(self.log),
                    time=at,
                    headers={k.lower(): v for k, v in headers.items()},
                    body=body.decode("utf-8", errors="replace"),
                    status=404,
                    applied=False,
                )
            )

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [entry.as_json() for entry in self.log[max(since, 0) :]]

    def state(self) -> dict[str, dict[str, dict[str, Any]]]:
        with self._lock:
            return self.view.state()

    def field_times(self) -> dict[str, dict[str, dict[str, float]]]:
        with self._lock:
            return self.view.field_times()

    def reset(self) -> None:
        """Forget the view and the log (fault switches stay as they are)."""
        with self._lock:
            self.view = View()
            self.log.clear()


def _parse(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None
