"""Alerts: the throttle's rule, the sender's messages, and that the URL never reaches a log."""

from __future__ import annotations

import io
import json
import threading

import httpx
import pytest
import structlog

from bridge.alerts import Alerts, AlertThrottle, Condition
from bridge.logs import configure_logging

SLACK_URL = "https://hooks.slack.example/services/T000/B000/very-secret-path-4711"


class FakeSlack:
    """Records what was posted through an httpx transport; can be told to fail."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.posts: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def handler(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.posts.append(json.loads(request.content))
        return httpx.Response(self.status, text="ok")

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handler))


def test_throttle_lets_one_alert_per_condition_per_interval() -> None:
    """Within the interval a condition is held back; other conditions are not affected."""
    throttle = AlertThrottle(min_interval=900)
    assert throttle.admit(Condition.BREAKER_OPENED, now=0) is not None
    assert throttle.admit(Condition.BREAKER_OPENED, now=899) is None
    assert throttle.admit(Condition.BREAKER_CLOSED, now=899) is not None
    admitted = throttle.admit(Condition.BREAKER_OPENED, now=900)
    assert admitted is not None
    assert admitted.suppressed == 1


def test_no_url_means_no_alerts() -> None:
    """Without BRIDGE_ALERT_WEBHOOK_URL notify is a no-op."""
    alerts = Alerts(None, min_interval_seconds=0)
    assert not alerts.enabled
    assert not alerts.notify(Condition.DEAD_LETTERED, "x")


def test_alerts_are_posted_as_slack_text_and_throttled() -> None:
    """The first alert is posted as {"text": ...}; a repeat within the interval is held back."""
    slack = FakeSlack()
    now = [1000.0]
    alerts = Alerts(SLACK_URL, min_interval_seconds=60, client=slack.client(), clock=lambda: now[0])
    assert alerts.notify(Condition.DEAD_LETTERED, "delivery #7 dead-lettered")
    assert not alerts.notify(Condition.DEAD_LETTERED, "delivery #8 dead-lettered")
    now[0] += 60
    assert alerts.notify(Condition.DEAD_LETTERED, "delivery #9 dead-lettered")
    assert alerts.flush(10)
    alerts.close()
    texts = [post["text"] for post in slack.posts]
    assert texts[0] == "[ion-violet-bridge] delivery #7 dead-lettered"
    assert texts[1].startswith("[ion-violet-bridge] delivery #9 dead-lettered")
    assert "1 similar alert(s) held back" in texts[1]


@pytest.mark.parametrize("status", [200, 500])
def test_sender_never_logs_the_url(status: int) -> None:
    """Whether the post works or not, the logs name the host only, never the URL's path."""
    stream = io.StringIO()
    configure_logging(level="debug", fmt="json", stream=stream)
    slack = FakeSlack(status=status)
    alerts = Alerts(SLACK_URL, min_interval_seconds=0, client=slack.client())
    alerts.notify(Condition.BREAKER_OPENED, "breaker opened")
    assert alerts.flush(10)
    alerts.close()
    structlog.reset_defaults()
    logged = stream.getvalue()
    assert "hooks.slack.example" in logged
    assert "very-secret-path-4711" not in logged
    assert "/services/" not in logged


def test_unreachable_chat_service_does_not_raise() -> None:
    """A connection error while posting is logged and swallowed; notify still returns at once."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}")

    stream = io.StringIO()
    configure_logging(level="debug", fmt="json", stream=stream)
    alerts = Alerts(
        SLACK_URL,
        min_interval_seconds=0,
        client=httpx.Client(transport=httpx.MockTransport(refuse)),
    )
    assert alerts.notify(Condition.RECONCILE_FAILED, "run failed")
    assert alerts.flush(10)
    alerts.close()
    structlog.reset_defaults()
    assert "ConnectError" in stream.getvalue()
    assert "very-secret-path-4711" not in stream.getvalue()
