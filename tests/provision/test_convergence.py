"""`run_setup` with a client of the test's own: a run cut off half-way converges when run again,
and tokens that expire or are revoked in the middle of a run are replaced."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from bridge.errors import IonUnavailable
from bridge.ion.client import IonClient
from bridge.provision.run import SetupResult, run_setup
from bridge.settings import Settings
from tests.ion.standin import Ion, Recording
from tests.provision.test_setup import SUBSCRIPTIONS, assert_fully_provisioned, ours


def setup_with(
    settings: Settings, engine: Engine, transport: Recording, **client: Any
) -> SetupResult:
    async def go() -> SetupResult:
        async with IonClient(settings, transport_factory=lambda: transport, **client) as ion:
            return await run_setup(ion, settings, engine, echo=lambda _line: None)

    return asyncio.run(go())


def test_a_run_cut_off_half_way_converges(ion: Ion, database_url: str, engine: Engine) -> None:
    """ION unreachable after the 8th request: the next run does only what is left, the one
    after that nothing."""
    settings = ion.settings(database_url, ion_max_retries=0)

    def cut_off(n: int, request: httpx.Request) -> None:
        if n >= 8:
            raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(IonUnavailable):
        setup_with(settings, engine, Recording(before_graphql=cut_off))
    done_before = len(ours(ion)["subscriptions"])
    assert 0 < done_before < SUBSCRIPTIONS

    ion.reset_stats()
    second = setup_with(settings, engine, Recording())
    assert ion.mutations() == {"createWebhookSubscription": SUBSCRIPTIONS - done_before}
    assert not any("receiver" in line for line in second.done)
    assert_fully_provisioned(ion, database_url)

    assert setup_with(settings, engine, Recording()).plan.is_empty


def test_tokens_revoked_during_setup_are_replaced(
    ion: Ion, database_url: str, engine: Engine
) -> None:
    """Every token revoked in the middle of a long run: one 401, one new token, run completes."""

    def revoke(n: int, _request: httpx.Request) -> None:
        if n == 10:
            ion.fault(revoke_tokens=True)

    recording = Recording(before_graphql=revoke)
    setup_with(ion.settings(database_url), engine, recording)
    assert ("/graphql", 401) in recording.seen
    assert ion.stats()["token_requests"] == 2
    assert_fully_provisioned(ion, database_url)


def test_a_token_about_to_expire_is_replaced_ahead_of_time(
    ion: Ion, database_url: str, engine: Engine
) -> None:
    """With time running fast (10 s per request) a 60-second token is renewed before it
    runs out, so ION never has to refuse one."""
    ion.world.token_ttl_seconds = 60
    ticks = iter(range(0, 10_000, 10))
    recording = Recording()
    setup_with(ion.settings(database_url), engine, recording, clock=lambda: float(next(ticks)))
    assert all(status == 200 for _path, status in recording.seen)
    assert ion.stats()["token_requests"] >= 4
    assert_fully_provisioned(ion, database_url)
