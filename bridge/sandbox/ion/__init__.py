"""The ION stand-in: a real HTTP server that behaves like First Resonance ION's API and webhooks.

    world = IonWorld(webhook_retry_delays=(0.05, 0.1))
    with serving(create_app(world)) as server:
        ...  # token at server.url + TOKEN_PATHS[0], GraphQL at server.url + "/graphql"

`bridge sandbox`, `bridge demo` and the tests all run it this way, on loopback.
"""

from __future__ import annotations

from bridge.sandbox.ion.app import create_app
from bridge.sandbox.ion.auth import TOKEN_PATHS
from bridge.sandbox.ion.world import IonWorld, Limitations
from bridge.sandbox.serving import ServerThread

__all__ = [
    "TOKEN_PATHS",
    "IonWorld",
    "Limitations",
    "ServerThread",
    "create_app",
    "run_ion_standin",
]


def run_ion_standin(world: IonWorld, host: str = "127.0.0.1", port: int = 8710) -> ServerThread:
    """Start the stand-in serving `world` on a background thread; call `.stop()` when done."""
    server = ServerThread(create_app(world), host=host, port=port)
    server.start()
    return server
