"""Run an ASGI app under a real uvicorn server on a background thread.

Used by `bridge sandbox`, `bridge demo` and the tests: the stand-ins and the bridge run as real
HTTP servers on loopback, never as in-process fakes.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

from bridge.settings import EVENT_LOOP


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, kw_only=True)
class RunningServer:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class ServerThread:
    """A uvicorn server on its own thread; `start()` returns once it accepts connections."""

    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or free_port(host)
        config = uvicorn.Config(
            app,
            host=host,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
            loop=EVENT_LOOP,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self.server.run, name=f"uvicorn:{self.port}", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> RunningServer:
        self._thread.start()
        # uvicorn flips `started` after the socket is bound and lifespan startup has run.
        deadline = threading.Event()
        waited = 0.0
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"server on {self.host}:{self.port} failed to start")
            if waited >= timeout:
                raise TimeoutError(f"server on {self.host}:{self.port} did not start in {timeout}s")
            deadline.wait(0.01)
            waited += 0.01
        return RunningServer(host=self.host, port=self.port)

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self._thread.join(timeout)


@contextmanager
def serving(app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[ServerThread]:
    """Context manager: the app served on a real socket for the duration of the block."""
    thread = ServerThread(app, host=host, port=port)
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()
