"""The receiver credentials the inbox checks against, read from the database and cached.

A query and a Fernet decryption per delivery would cost more than the rest of the ingest, so the
decrypted set is kept for a few seconds. `bridge setup` may rotate the secret from another
process at any time: a delivery that fails the check against a cache older than
`_RELOAD_AFTER_FAILURE_SECONDS` reloads once before it is refused, so a fresh rotation is
honoured at once while a flood of forged requests costs at most one query per interval.

One load at a time: the requests that find the cache expired (or a check failed) together all
wait for the same load. Before, every one of them started its own, so under load each expiry
ran a query and a decryption per request in flight (64 at once in the bench).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime

import anyio.to_thread
import structlog
from sqlalchemy.engine import Engine

from bridge import crypto
from bridge.errors import ConfigError
from bridge.inbox.verify import Credentials
from bridge.settings import Settings
from bridge.store.db import session_scope

log = structlog.get_logger(__name__)

_TTL_SECONDS = 10.0
_RELOAD_AFTER_FAILURE_SECONDS = 1.0

Loader = Callable[[], Credentials]


def database_loader(engine: Engine, settings: Settings, *, clock: Callable[[], datetime]) -> Loader:
    """A loader reading the active credentials (current + retired within the grace period)."""

    def load() -> Credentials:
        key: bytes | None = None
        secrets: list[str] = []
        hashes: list[str] = []
        names: list[str] = []
        with session_scope(engine) as session:
            rows = crypto.active_credentials(
                session, clock(), settings.secret_rotation_grace_seconds
            )
        for row in rows:
            if row.secret_encrypted:
                try:
                    key = key or crypto.storage_key(settings)
                    secrets.append(crypto.decrypt_secret(row.secret_encrypted, key))
                except ConfigError as exc:
                    # The header token still works; say loudly why signatures cannot.
                    log.error("inbox.secret_unreadable", credential_id=row.id, problem=str(exc))
            if row.token_sha256:
                hashes.append(row.token_sha256)
            if row.header_name and row.header_name.lower() not in names:
                names.append(row.header_name.lower())
        if settings.inbox_header_name.lower() not in names:
            names.append(settings.inbox_header_name.lower())
        return Credentials(
            secrets=tuple(secrets), token_hashes=tuple(hashes), header_names=tuple(names)
        )

    return load


class CredentialCache:
    """`Credentials` loaded in a worker thread, reused for a few seconds."""

    def __init__(self, load: Loader, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._load = load
        self._clock = clock
        self._value: Credentials | None = None
        self._loaded_at = float("-inf")
        #: The load in progress, which every caller arriving meanwhile shares.
        self._loading: asyncio.Future[Credentials] | None = None

    async def get(self) -> Credentials:
        if self._value is None or self._clock() - self._loaded_at > _TTL_SECONDS:
            return await self._reload()
        return self._value

    async def reload_if_stale(self) -> Credentials | None:
        """Reload after a failed check unless the cache is fresh; the new set, or None."""
        if self._clock() - self._loaded_at < _RELOAD_AFTER_FAILURE_SECONDS:
            return None
        return await self._reload()

    async def _reload(self) -> Credentials:
        if self._loading is None:
            self._loading = asyncio.ensure_future(self._load_once())
        # Shielded: a caller that gives up (its client went away) does not cancel the load the
        # others are waiting for.
        return await asyncio.shield(self._loading)

    async def _load_once(self) -> Credentials:
        try:
            value = await anyio.to_thread.run_sync(self._load)
            self._value, self._loaded_at = value, self._clock()
            return value
        finally:
            self._loading = None
