"""The status page an on-call engineer signs in to: Violet's health, the queue, dead letters
with a resend button, reconciliation runs and provisioning drift, rendered on the server.

`routes()` gives the Starlette routes for the composition root to mount; `capture_status_page()`
takes a screenshot of a running page in headless Chromium (the demo keeps one under `var/`).
"""

from __future__ import annotations

from bridge.ui.drift import DriftCache, DriftReport
from bridge.ui.page import Sources
from bridge.ui.routes import routes

__all__ = ["DriftCache", "DriftReport", "Sources", "capture_status_page", "routes"]


def __getattr__(name: str) -> object:
    # Selenium is a test dependency: import it only when a screenshot is actually asked for.
    if name == "capture_status_page":
        from bridge.ui.capture import capture_status_page

        return capture_status_page
    raise AttributeError(name)
