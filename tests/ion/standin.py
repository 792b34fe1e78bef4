"""The ION stand-in served over real HTTP, with the handles the ION-client and provisioning
tests need: settings and environment pointing at it, its counters and fault switches, a way to
change things "by hand" through GraphQL as a person in ION's UI would, and a recording transport.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from bridge.sandbox.ion import IonWorld, create_app
from bridge.sandbox.serving import serving
from bridge.settings import Settings, load_settings

TOKEN_PATH = "/realms/api-keys/protocol/openid-connect/token"
CLIENT_ID, CLIENT_SECRET = "sandbox-client", "sandbox-secret"
PUBLIC_URL = "http://127.0.0.1:8080"

RECEIVERS_QUERY = """
query { webhookReceivers(first: 100) { edges { node {
  id _etag name webhookUri sharedSecret active
  headers { id key value }
  subscriptions { id _etag resource action active }
} } } }"""


@dataclass
class Ion:
    world: IonWorld
    url: str
    http: httpx.Client

    def env(self, database_url: str, **extra: str) -> dict[str, str]:
        """BRIDGE_* variables pointing a bridge process at this stand-in."""
        values = {
            "BRIDGE_ION_API_URL": self.url,
            "BRIDGE_ION_TOKEN_URL": self.url + TOKEN_PATH,
            "BRIDGE_ION_CLIENT_ID": CLIENT_ID,
            "BRIDGE_ION_CLIENT_SECRET": CLIENT_SECRET,
            "BRIDGE_PUBLIC_URL": PUBLIC_URL,
            "BRIDGE_ALLOW_INSECURE_PUBLIC_URL": "true",
            "BRIDGE_DATABASE_URL": database_url,
            "BRIDGE_ION_RETRY_BASE_SECONDS": "0.01",
            "BRIDGE_LOG_LEVEL": "warning",
        }
        values.update(extra)
        return values

    def settings(self, database_url: str = "sqlite://", **overrides: Any) -> Settings:
        env = {key: value for key, value in self.env(database_url).items()}
        return load_settings(env, overrides=overrides)

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.http.get("/_sandbox/stats").json()
        return stats

    def mutations(self) -> dict[str, int]:
        by_name: dict[str, int] = self.stats()["mutations"]["by_name"]
        return by_name

    def reset_stats(self) -> None:
        self.http.post("/_sandbox/stats/reset").raise_for_status()

    def fault(self, **switches: Any) -> None:
        self.http.post("/_sandbox/faults", json=switches).raise_for_status()

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """A GraphQL request made by hand (a person in ION's UI); fails the test on errors."""
        form = {
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
        token = self.http.post(TOKEN_PATH, data=form).json()["access_token"]
        answer = self.http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert not answer.get("errors"), answer
        data: dict[str, Any] = answer["data"]
        return data

    def receivers(self) -> list[dict[str, Any]]:
        edges = self.gql(RECEIVERS_QUERY)["webhookReceivers"]["edges"]
        return [edge["node"] for edge in edges]


@contextmanager
def running_ion(**world: Any) -> Iterator[Ion]:
    """The stand-in on a free loopback port for the duration of the block."""
    ion_world = IonWorld(**world)
    with (
        serving(create_app(ion_world)) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        yield Ion(world=ion_world, url=server.url, http=http)


Hook = Callable[[int, httpx.Request], None]


@dataclass
class Recording(httpx.AsyncBaseTransport):
    """A real HTTP transport that records (path, status) and can act before the n-th
    GraphQL request (revoke tokens, fail with a connection error)."""

    before_graphql: Hook | None = None
    seen: list[tuple[str, int]] = field(default_factory=list)
    _inner: httpx.AsyncHTTPTransport = field(default_factory=httpx.AsyncHTTPTransport)
    _graphql: int = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/graphql":
            self._graphql += 1
            if self.before_graphql is not None:
                self.before_graphql(self._graphql, request)
        response = await self._inner.handle_async_request(request)
        self.seen.append((request.url.path, response.status_code))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
