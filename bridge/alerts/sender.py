"""Posts alerts to `BRIDGE_ALERT_WEBHOOK_URL` (Slack-style `{"text": ...}`), off the caller's path.

`notify()` never blocks and never raises: the worker, the reconciler and the watcher call it from
wherever they are (an event loop included), and a slow or broken chat service must not slow the
bridge. Messages go out on one background thread, in order. The URL is a credential (anyone who
has it can post to the channel): it is registered with the log scrubber and only ever logged as
scheme + host.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

import httpx
import structlog
from pydantic import SecretStr

from bridge.alerts.throttle import AlertThrottle, Condition
from bridge.logs import register_secret
from bridge.settings import Settings, redact_url

log = structlog.get_logger(__name__)
PREFIX = "[ion-violet-bridge]"


class Alerts:
    """The alert channel; does nothing at all when no URL is configured."""

    def __init__(
        self,
        url: SecretStr | str | None,
        *,
        min_interval_seconds: float,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._url = url.get_secret_value() if isinstance(url, SecretStr) else url
        register_secret(self._url)
        self._throttle = AlertThrottle(min_interval_seconds)
        self._clock = clock
        self._client = client
        self._timeout = timeout_seconds
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, *, client: httpx.Client | None = None) -> Alerts:
        return cls(
            settings.alert_webhook_url,
            min_interval_seconds=settings.alert_min_interval_seconds,
            client=client,
        )

    @property
    def enabled(self) -> bool:
        return bool(self._url)

    def notify(self, condition: Condition, text: str) -> bool:
        """Queue an alert unless the condition alerted within the interval; True if queued."""
        if not self._url:
            return False
        with self._lock:
            admission = self._throttle.admit(condition, self._clock())
            if admission is None:
                log.info("alert.held_back", condition=condition.value)
                return False
            message = f"{PREFIX} {text}"
            if admission.suppressed:
                message += (
                    f" ({admission.suppressed} similar alert(s) held back since the last one)"
                )
            self._ensure_thread()
        self._queue.put(message)
        return True

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued alert was tried; True if that happened within `timeout`."""
        done = threading.Event()
        deadline = time.monotonic() + timeout

        def join() -> None:
            self._queue.join()
            done.set()

        # Queue.join has no timeout: wait for it on a helper thread instead.
        threading.Thread(target=join, daemon=True).start()
        return done.wait(max(deadline - time.monotonic(), 0))

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued, then stop the sender thread."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        client = self._client or httpx.Client(timeout=self._timeout)
        try:
            while True:
                message = self._queue.get()
                try:
                    if message is None:
                        return
                    self._send(client, message)
                finally:
                    self._queue.task_done()
        finally:
            if self._client is None:
                client.close()

    def _send(self, client: httpx.Client, message: str) -> None:
        assert self._url is not None  # the thread only runs when a URL is configured
        destination = redact_url(self._url)
        try:
            response = client.post(self._url, json={"text": message})
        except httpx.HTTPError as exc:
            # The exception's text can contain the URL: log its type only.
            log.warning("alert.not_sent", destination=destination, error=type(exc).__name__)
            return
        if response.is_success:
            log.info("alert.sent", destination=destination)
        else:
            log.warning("alert.refused", destination=destination, status=response.status_code)
