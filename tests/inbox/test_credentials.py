"""The credential cache: one load at a time, shared by every request that needs it."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bridge.errors import StorageUnavailable
from bridge.inbox.credentials import CredentialCache
from bridge.inbox.verify import Credentials

CREDS = Credentials(secrets=("s",), token_hashes=(), header_names=("x-token",))


class _Loader:
    """Counts loads; each one blocks until released, so callers pile up behind it."""

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self) -> Credentials:
        self.calls += 1
        self.started.set()
        self.release.wait(10)
        if self.fail:
            raise StorageUnavailable("database down")
        return CREDS


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _piled(cache: CredentialCache, loader: _Loader, callers: int) -> list[object]:
    """`callers` concurrent get()s, released once all of them are waiting on the load."""
    tasks = [asyncio.ensure_future(cache.get()) for _ in range(callers)]
    # All were scheduled in one go, so all have asked by the time the load has started.
    await asyncio.to_thread(loader.started.wait, 10)
    loader.release.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


def test_callers_arriving_together_share_one_load() -> None:
    loader, clock = _Loader(), _Clock()
    cache = CredentialCache(loader, clock=clock)

    async def run() -> tuple[list[object], list[object]]:
        first = await _piled(cache, loader, 64)
        loader.release.clear()
        loader.started.clear()
        clock.now += 60  # expired
        second = await _piled(cache, loader, 64)
        return first, second

    first, second = asyncio.run(run())
    assert first == [CREDS] * 64
    assert second == [CREDS] * 64
    assert loader.calls == 2


def test_a_failed_load_fails_its_waiters_and_the_next_call_loads_again() -> None:
    loader = _Loader(fail=True)
    cache = CredentialCache(loader, clock=_Clock())

    async def run() -> tuple[list[object], Credentials]:
        failed = await _piled(cache, loader, 8)
        loader.fail = False
        return failed, await cache.get()

    failed, recovered = asyncio.run(run())
    assert all(isinstance(outcome, StorageUnavailable) for outcome in failed)
    assert loader.calls == 2
    assert recovered == CREDS


def test_a_caller_that_gives_up_does_not_cancel_the_shared_load() -> None:
    loader = _Loader()
    cache = CredentialCache(loader, clock=_Clock())

    async def run() -> Credentials:
        quitter = asyncio.ensure_future(cache.get())
        await asyncio.to_thread(loader.started.wait, 10)
        stayer = asyncio.ensure_future(cache.get())
        quitter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await quitter
        loader.release.set()
        return await stayer

    assert asyncio.run(run()) == CREDS
    assert loader.calls == 1
