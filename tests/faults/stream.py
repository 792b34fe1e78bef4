"""Plays ION against a bridge: signed deliveries, each sent again until it is acknowledged.

ION delivers at least once and retries what was not answered with success; so does this stream.
Per thread, deliveries go out in event-id order and the next one waits for the previous one's
acknowledgement, so a thread never makes the bridge see an older event of an object after a newer
one. Every attempt is recorded (when, which event, what status) for the drill's assertions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from bridge.bench.bridgeproc import Credential
from bridge.bench.payloads import ion_body, sign
from tests.waiting import wait_until


@dataclass(frozen=True, kw_only=True)
class Attempt:
    event_id: int
    sent_at: float  # time.monotonic() when the request left
    answered_at: float  # time.monotonic() when the answer (or the failure) came back
    status: int  # 0: no answer (refused, reset, timeout)


class IonStream:
    def __init__(
        self,
        url: str,
        events: Sequence[tuple[int, int]],
        *,
        credential: Credential | None = None,
        threads: int = 2,
        retry_delay: float = 0.05,
    ) -> None:
        """`events`: (event_id, object id) pairs; a thread owns all events of an object."""
        self.url = url.rstrip("/") + "/webhooks/ion"
        self.credential = credential or Credential()
        self.retry_delay = retry_delay
        self.acked: set[int] = set()
        self.attempts: list[Attempt] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        queues: list[list[tuple[int, int]]] = [[] for _ in range(threads)]
        for event_id, entity_id in sorted(events):
            queues[entity_id % threads].append((event_id, entity_id))
        self._threads = [
            threading.Thread(target=self._run, args=(queue,), daemon=True) for queue in queues
        ]
        self.total = len(events)

    def start(self) -> IonStream:
        for thread in self._threads:
            thread.start()
        return self

    def acked_count(self) -> int:
        with self._lock:
            return len(self.acked)

    def attempts_between(self, start: float, end: float = float("inf")) -> list[Attempt]:
        """Attempts sent at or after `start` and answered before `end` (monotonic times)."""
        with self._lock:
            return [a for a in self.attempts if a.sent_at >= start and a.answered_at < end]

    def statuses(self) -> set[int]:
        with self._lock:
            return {a.status for a in self.attempts}

    def finish(self, timeout: float) -> None:
        """Wait until every event was acknowledged, then stop the threads."""
        try:
            wait_until(lambda: self.acked_count() == self.total, timeout, "every event acked")
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join(10)

    def _run(self, queue: list[tuple[int, int]]) -> None:
        with httpx.Client(timeout=5, trust_env=False) as http:
            for event_id, entity_id in queue:
                while not self._stop.is_set():
                    if self._send(http, event_id, entity_id):
                        break
                    self._stop.wait(self.retry_delay)

    def _send(self, http: httpx.Client, event_id: int, entity_id: int) -> bool:
        body = ion_body(event_id, entity_id)
        name, token = self.credential.header
        headers = {
            "content-type": "application/json",
            "x-ion-signature": sign(self.credential.secret, body),
            name: token,
        }
        sent_at = time.monotonic()
        try:
            status = http.post(self.url, content=body, headers=headers).status_code
        except httpx.HTTPError:
            status = 0
        answered_at = time.monotonic()
        with self._lock:
            self.attempts.append(
                Attempt(event_id=event_id, sent_at=sent_at, answered_at=answered_at, status=status)
            )
            if 200 <= status < 300:
                self.acked.add(event_id)
        return 200 <= status < 300
