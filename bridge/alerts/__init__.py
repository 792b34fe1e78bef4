"""Alerts to a chat webhook (`BRIDGE_ALERT_WEBHOOK_URL`) when an operator must look.

- `throttle`: at most one message per condition per `BRIDGE_ALERT_MIN_INTERVAL_SECONDS` (pure);
- `sender`: `Alerts.notify(condition, text)`, non-blocking, never logging the URL;
- `watch`: `AlertWatch`, a background scan of the database, the breaker and the drift cache that
  raises the alerts, so the worker and the reconciler need no alerting code of their own.
"""

from __future__ import annotations

from bridge.alerts.sender import Alerts
from bridge.alerts.throttle import AlertThrottle, Condition
from bridge.alerts.watch import AlertWatch

__all__ = ["AlertThrottle", "AlertWatch", "Alerts", "Condition"]
