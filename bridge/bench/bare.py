"""The baselines the bridge is measured against, each served in a process of its own.

    python -m bridge.bench.bare --port P             a bare Starlette endpoint under uvicorn
    python -m bridge.bench.bare --port P --http h11  the same on uvicorn's pure-Python parser
    python -m bridge.bench.bare --port P --raw       a raw asyncio responder (generator ceiling)

The Starlette endpoint reads the body and answers 200, under the same uvicorn (same HTTP parser,
`bridge.settings.DEFAULT_HTTP_PARSER`, same event loop) as `bridge serve`: the ratio bridge / bare
isolates what the bridge's own work costs. The raw responder does no HTTP parsing at all; the
load generator's rate against it is the generator's own ceiling, shown to prove it is not the
bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import cast, get_args

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.settings import DEFAULT_HTTP_PARSER, EVENT_LOOP, HttpParser

_RAW_ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


async def _accept(request: Request) -> Response:
    await request.body()
    return Response(status_code=200)


def bare_app() -> Starlette:
    return Starlette(routes=[Route("/webhooks/ion", _accept, methods=["POST"])])


class _RawResponder(asyncio.Protocol):
    """Answers every complete request with a fixed 200; knows only Content-Length framing."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self.buffer[:end]).lower()
            marker = head.find(b"content-length:")
            length = 0
            if marker >= 0:
                line_end = head.find(b"\r\n", marker)
                length = int(head[marker + 15 : line_end if line_end >= 0 else None])
            if len(self.buffer) < end + 4 + length:
                return
            del self.buffer[: end + 4 + length]
            if self.transport is not None:
                self.transport.write(_RAW_ANSWER)


async def _serve_raw(host: str, port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_RawResponder, host, port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--raw", action="store_true")
    parser.add_argument(
        "--http", choices=get_args(HttpParser), default=DEFAULT_HTTP_PARSER, help="HTTP parser"
    )
    args = parser.parse_args()
    if args.raw:
        asyncio.run(_serve_raw(args.host, args.port))
        return
    uvicorn.run(
        bare_app(),
        host=args.host,
        port=args.port,
        http=args.http,
        loop=EVENT_LOOP,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
