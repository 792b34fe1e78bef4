"""Hooks: how other parts of the bridge (reconciliation, the status page) hear about events
without the inbox or the worker knowing them.

A hook is a plain callable taking one value; it may return an awaitable. Hooks run after the
fact (after the commit, after the send) and never hold up or fail the thing that fired them:
a sync hook runs inline and must be quick, an async hook runs as its own task, and whatever
either raises is logged, not propagated.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import structlog

log = structlog.get_logger(__name__)

T = TypeVar("T")
Hook = Callable[[T], Awaitable[None] | None]


class HookRunner:
    """Fires hooks and keeps their tasks referenced until they finish."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def fire(self, hooks: Iterable[Hook[T]], value: T, *, name: str) -> None:
        for hook in list(hooks):
            try:
                result = hook(value)
            except Exception:
                log.exception("hook.failed", hook=name)
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(self._finished(name))

    def _finished(self, name: str) -> Callable[[asyncio.Task[Any]], None]:
        def done(task: asyncio.Task[Any]) -> None:
            self._tasks.discard(task)
            if not task.cancelled() and task.exception() is not None:
                log.error("hook.failed", hook=name, error=repr(task.exception()))

        return done

    async def drain(self, grace: float) -> None:
        """Wait (bounded) for hook tasks still running, then cancel the rest."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
