"""Close a client's connection without answering, from inside an ASGI app.

ASGI gives an app no way to abort a connection before a response starts: if the app raises,
uvicorn answers 500 instead. A real dropped connection is what senders meet in production
(a load balancer reset, a crashed pod), so the stand-in reaches for the socket itself: uvicorn's
per-request cycle object, which awaits the app and therefore sits on the frame stack above it,
holds the asyncio transport. Closing that transport sends FIN with no status line; the client
sees "server disconnected without sending a response".

If the transport cannot be found (another server, a future uvicorn), `drop_connection` returns
False and the caller falls back to raising, which uvicorn turns into a 500 answer.
"""

from __future__ import annotations

import asyncio
import sys

from starlette.types import Receive

#: Loopback disconnects are noticed within a loop iteration; this only bounds a surprise.
_DISCONNECT_WAIT_SECONDS = 5.0


def _find_transport() -> asyncio.BaseTransport | None:
    frame = sys._getframe(1)
    while frame is not None:
        owner = frame.f_locals.get("self")
        transport = getattr(owner, "transport", None)
        if isinstance(transport, asyncio.BaseTransport):
            return transport
        frame = frame.f_back  # type: ignore[assignment]
    return None


async def drop_connection(receive: Receive) -> bool:
    """Close the current request's connection unanswered; True if that was possible.

    Waits for the server to notice the disconnect so that the response the framework sends
    afterwards is discarded quietly instead of being reported as an app error.
    """
    transport = _find_transport()
    if transport is None:
        return False
    transport.close()
    try:
        async with asyncio.timeout(_DISCONNECT_WAIT_SECONDS):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        pass
    return True
