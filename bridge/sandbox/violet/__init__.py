"""The Violet stand-in: a capability URL that keeps *Violet's view* of ION's data.

See `app` for the routes, `view` for how webhook bodies change the view, `faults` for the
switches that make it misbehave.
"""

from __future__ import annotations

from bridge.sandbox.violet.app import create_app
from bridge.sandbox.violet.world import LoggedRequest, VioletWorld

__all__ = ["LoggedRequest", "VioletWorld", "create_app"]
