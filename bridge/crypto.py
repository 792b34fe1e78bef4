"""Keeping the receiver's credentials: the shared secret encrypted, the header token hashed.

The inbox needs the shared secret back in plain text (it recomputes ION's HMAC), so it is stored
encrypted with Fernet (AES-128-CBC + HMAC-SHA256, `cryptography`). The header token is only ever
compared, so only its SHA-256 is stored and `tokens_match` compares in constant time.

Where the encryption key comes from (`storage_key`), first match wins:

1. `BRIDGE_SECRET_KEY`, any string (a passphrase or 32 random bytes in base64): set it in
   production, the same value in every process that shares the database.
2. With a SQLite database: a random key file `secret.key` beside the database file, created
   mode 0600 on first use. A copied database without its key file cannot be read; `bridge setup`
   then notices and rotates to a new secret.
3. With PostgreSQL (shared by several hosts, so no local file will do): derived from
   `BRIDGE_ION_CLIENT_SECRET`, which every bridge process already holds. Replacing the ION API
   key changes this key; `bridge setup` then rotates the receiver secret.

The key material always goes through HKDF-SHA256 with a fixed context label, so the stored
ciphertext never depends on the raw form of the setting.

`active_credentials` is what the inbox checks a delivery against: the current credential and the
retired ones still inside the rotation grace period.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from bridge.clock import as_utc
from bridge.errors import ConfigError
from bridge.settings import Settings
from bridge.store.db import sqlite_file
from bridge.store.models import ReceiverCredential

_CONTEXT = b"ion-violet-bridge receiver credentials v1"
KEY_FILE_NAME = "secret.key"


def derive_key(material: bytes) -> bytes:
    """A Fernet key (urlsafe base64 of 32 bytes) derived from `material` with HKDF-SHA256."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_CONTEXT)
    return base64.urlsafe_b64encode(hkdf.derive(material))


def storage_key(settings: Settings, *, create: bool = True) -> bytes:
    """The key that encrypts stored receiver secrets (see the module docstring for the order).

    `create=False` never writes a key file (dry runs); ConfigError if there is none yet.
    """
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return derive_key(settings.secret_key.get_secret_value().encode())
    url = make_url(settings.database_url)
    database = sqlite_file(url)
    if database is not None:
        return derive_key(_key_file(Path(database).resolve().parent, create=create))
    if settings.ion_client_secret is not None and settings.ion_client_secret.get_secret_value():
        return derive_key(settings.ion_client_secret.get_secret_value().encode())
    raise ConfigError(
        "BRIDGE_SECRET_KEY", "is required to encrypt the receiver secret in this database"
    )


def _key_file(folder: Path, *, create: bool) -> bytes:
    path = folder / KEY_FILE_NAME
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        if not create:
            raise ConfigError("BRIDGE_SECRET_KEY", f"no key file at {path} yet") from None
    folder.mkdir(parents=True, exist_ok=True)
    material = secrets.token_urlsafe(32).encode()
    try:
        # O_EXCL: two processes starting together must not each write a different key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(material)
    return material


def encrypt_secret(plain: str, key: bytes) -> str:
    """`plain` encrypted (and authenticated) with `key`, as text for a database column."""
    return Fernet(key).encrypt(plain.encode()).decode("ascii")


def decrypt_secret(token: str, key: bytes) -> str:
    """The plain text of `encrypt_secret`'s output; ConfigError when `key` is not the one used."""
    try:
        return Fernet(key).decrypt(token.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        raise ConfigError(
            "BRIDGE_SECRET_KEY",
            "cannot decrypt the stored receiver secret (the key changed); "
            "run `bridge setup --rotate-secret`",
        ) from None


def hash_token(token: str) -> str:
    """The SHA-256 (hex) of a header token or secret: what is stored and compared."""
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_match(presented: str, stored_sha256: str) -> bool:
    """Whether a presented token hashes to the stored hash, in constant time."""
    return hmac.compare_digest(hash_token(presented), stored_sha256)


def new_secret() -> str:
    """A fresh shared secret or header token: 32 random bytes, URL-safe text."""
    return secrets.token_urlsafe(32)


def active_credentials(
    session: Session, now: datetime, grace_seconds: float
) -> list[ReceiverCredential]:
    """Credentials a delivery may be checked against, the current one first: every row not yet
    retired, and retired rows while `now` is within `grace_seconds` of their retirement."""
    cutoff = as_utc(now) - timedelta(seconds=grace_seconds)
    rows = session.exec(select(ReceiverCredential).order_by(col(ReceiverCredential.id).desc()))
    # Filtered here, not in SQL: naive vs aware timestamps compare differently per backend,
    # and there are only a handful of rows (one per rotation).
    current = [row for row in rows if row.retired_at is None or as_utc(row.retired_at) > cutoff]
    return sorted(current, key=lambda row: row.retired_at is not None)
