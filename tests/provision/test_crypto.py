"""bridge.crypto: the stored secret encrypted, tokens hashed, the key's origin, and which
credentials the inbox accepts during a rotation."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bridge.crypto import (
    KEY_FILE_NAME,
    active_credentials,
    decrypt_secret,
    encrypt_secret,
    hash_token,
    storage_key,
    tokens_match,
)
from bridge.errors import ConfigError
from bridge.settings import load_settings
from bridge.store.db import session_scope
from bridge.store.models import ReceiverCredential

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def test_encrypted_secret_round_trips_and_hides_the_plain_text() -> None:
    """What is stored is not the secret, and the right key gives it back."""
    key = storage_key(load_settings({}, overrides={"secret_key": "passphrase"}))
    stored = encrypt_secret("the-shared-secret", key)
    assert "the-shared-secret" not in stored
    assert decrypt_secret(stored, key) == "the-shared-secret"


def test_the_wrong_key_is_a_config_error_naming_the_setting() -> None:
    """Decrypting with another key fails as a ConfigError about BRIDGE_SECRET_KEY."""
    one = storage_key(load_settings({}, overrides={"secret_key": "one"}))
    two = storage_key(load_settings({}, overrides={"secret_key": "two"}))
    with pytest.raises(ConfigError, match="BRIDGE_SECRET_KEY"):
        decrypt_secret(encrypt_secret("x", one), two)


def test_tokens_are_compared_by_hash() -> None:
    """The token's SHA-256 is stored; the presented token matches only itself."""
    stored = hash_token("token-abc")
    assert len(stored) == 64
    assert "token-abc" not in stored
    assert tokens_match("token-abc", stored)
    assert not tokens_match("token-abd", stored)


def test_sqlite_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    """Without BRIDGE_SECRET_KEY, SQLite gets a 0600 key file beside the database, reused."""
    settings = load_settings({}, overrides={"database_url": f"sqlite:///{tmp_path / 'b.db'}"})
    with pytest.raises(ConfigError):
        storage_key(settings, create=False)  # a dry run never creates it
    first = storage_key(settings)
    path = tmp_path / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert storage_key(settings) == first


def test_secret_key_setting_wins_over_the_key_file(tmp_path: Path) -> None:
    """BRIDGE_SECRET_KEY decides the key when set; no key file is written."""
    url = f"sqlite:///{tmp_path / 'b.db'}"
    with_key = load_settings({}, overrides={"database_url": url, "secret_key": "k"})
    assert storage_key(with_key) == storage_key(load_settings({}, overrides={"secret_key": "k"}))
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_postgres_derives_the_key_from_the_client_secret() -> None:
    """On PostgreSQL (shared by hosts) the key comes from the ION client secret, else an error."""
    url = "postgresql+psycopg://u@db/bridge"
    one = load_settings({}, overrides={"database_url": url, "ion_client_secret": "a"})
    same = load_settings({}, overrides={"database_url": url, "ion_client_secret": "a"})
    assert storage_key(one) == storage_key(same)
    with pytest.raises(ConfigError, match="BRIDGE_SECRET_KEY"):
        storage_key(load_settings({}, overrides={"database_url": url}))


def _credential(id: int, retired_at: datetime | None) -> ReceiverCredential:
    return ReceiverCredential(
        id=id,
        ion_receiver_id=7,
        webhook_uri="https://bridge.example/webhooks/ion",
        secret_encrypted="x",
        token_sha256=hash_token(f"t{id}"),
        header_name="x-bridge-token",
        created_at=NOW - timedelta(days=3),
        retired_at=retired_at,
    )


def test_active_credentials_keep_retired_ones_for_the_grace_period(engine: Engine) -> None:
    """During a rotation both credentials verify (current first); after the grace, only one."""
    with session_scope(engine) as session:
        session.add(_credential(1, NOW - timedelta(days=2)))  # long retired
        session.add(_credential(2, NOW - timedelta(hours=1)))  # retired by the last rotation
        session.add(_credential(3, None))  # current
    with session_scope(engine) as session:
        now_ids = [c.id for c in active_credentials(session, NOW, 86400)]
        later_ids = [c.id for c in active_credentials(session, NOW + timedelta(days=1), 86400)]
    assert now_ids == [3, 2]
    assert later_ids == [3]
