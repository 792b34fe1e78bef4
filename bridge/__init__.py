"""ion-violet-bridge: keeps Violet's copy of a factory's ION data right."""

from __future__ import annotations

__version__ = "0.1.0"
