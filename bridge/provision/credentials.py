"""The bridge's stored receiver credentials (table `receiver_credentials`), as provisioning
reads and writes them. One row is current (`retired_at` null); a rotation retires it and adds a
new one, and the inbox keeps accepting the retired one for the grace period (`bridge.crypto`).

Ordering matters for the inbox: a new secret or token is written here *before* ION is told to
use it, so no delivery can arrive carrying a value the bridge would refuse.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bridge.crypto import decrypt_secret, encrypt_secret, hash_token, storage_key
from bridge.errors import ConfigError
from bridge.provision.state import StoredCredential
from bridge.settings import Settings
from bridge.store.db import schema_is_current, session_scope, sqlite_file
from bridge.store.models import ReceiverCredential


def current_row(session: Session) -> ReceiverCredential | None:
    """The credential in use: the newest row not retired."""
    statement = (
        select(ReceiverCredential)
        .where(col(ReceiverCredential.retired_at).is_(None))
        .order_by(col(ReceiverCredential.id).desc())
    )
    return session.exec(statement).first()


def load_stored(engine: Engine, settings: Settings) -> StoredCredential | None:
    """The current credential reduced to comparable values; reads only (safe for dry runs)."""
    database = sqlite_file(engine.url)
    if database is not None and not Path(database).exists():
        return None  # connecting would create the file: a dry run must not
    if not schema_is_current(engine):
        return None
    with session_scope(engine) as session:
        row = current_row(session)
    if row is None or row.id is None:
        return None
    try:
        secret_sha256: str | None = hash_token(
            decrypt_secret(row.secret_encrypted, storage_key(settings, create=False))
        )
    except ConfigError:
        secret_sha256 = None  # unreadable: the plan rotates
    return StoredCredential(
        id=row.id,
        receiver_id=row.ion_receiver_id,
        header_id=row.ion_header_id,
        webhook_uri=row.webhook_uri,
        secret_sha256=secret_sha256,
        token_sha256=row.token_sha256,
    )


class CredentialStore:
    """Writes of provisioning, each its own committed transaction (a crash keeps what ION has)."""

    def __init__(self, engine: Engine, settings: Settings, now: Callable[[], datetime]) -> None:
        self._engine = engine
        self._settings = settings
        self._now = now
        self._key: bytes | None = None

    def _storage_key(self) -> bytes:
        if self._key is None:
            self._key = storage_key(self._settings)
        return self._key

    def current_secret(self) -> str:
        with session_scope(self._engine) as session:
            row = current_row(session)
        if row is None:
            raise ConfigError("BRIDGE_DATABASE_URL", "no stored receiver secret to restore")
        return decrypt_secret(row.secret_encrypted, self._storage_key())

    def start(self, *, receiver_id: int, webhook_uri: str, secret: str, token: str) -> None:
        """A new current credential; the previous one is retired now (its grace starts)."""
        now = self._now()
        encrypted = encrypt_secret(secret, self._storage_key())
        with session_scope(self._engine) as session:
            for row in session.exec(
                select(ReceiverCredential).where(col(ReceiverCredential.retired_at).is_(None))
            ):
                row.retired_at = now
                session.add(row)
            session.add(
                ReceiverCredential(
                    ion_receiver_id=receiver_id,
                    webhook_uri=webhook_uri,
                    secret_encrypted=encrypted,
                    token_sha256=hash_token(token),
                    header_name=self._settings.inbox_header_name,
                    created_at=now,
                )
            )

    def set_token(self, token: str) -> None:
        """The current credential's header token is now `token` (the header is being replaced)."""
        with session_scope(self._engine) as session:
            row = current_row(session)
            if row is None:
                raise ConfigError("BRIDGE_DATABASE_URL", "no stored receiver credential")
            row.token_sha256 = hash_token(token)
            row.header_name = self._settings.inbox_header_name
            session.add(row)

    def record(self, *, receiver_id: int | None, header_id: int | None, webhook_uri: str) -> None:
        """Point the current credential at this receiver, header and URL, if it does not yet."""
        with session_scope(self._engine) as session:
            row = current_row(session)
            if row is None:
                return
            if (row.ion_receiver_id, row.ion_header_id, row.webhook_uri) == (
                receiver_id,
                header_id,
                webhook_uri,
            ):
                return
            row.ion_receiver_id = receiver_id
            row.ion_header_id = header_id
            row.webhook_uri = webhook_uri
            session.add(row)

    def retire_all(self) -> int:
        """Retire every current credential (teardown); returns how many."""
        now = self._now()
        with session_scope(self._engine) as session:
            rows = list(
                session.exec(
                    select(ReceiverCredential).where(col(ReceiverCredential.retired_at).is_(None))
                )
            )
            for row in rows:
                row.retired_at = now
                session.add(row)
        return len(rows)
