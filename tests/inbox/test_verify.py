"""Signature and header-token checks, with every `inbox_require` mode and a rotation."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from bridge import crypto
from bridge.inbox.verify import Credentials, hash_token, signature_matches, verify

BODY = b'{"event_id": 1}'
CREDS = Credentials(
    secrets=("new-secret", "old-secret"),
    token_hashes=(hash_token("the-token"),),
    header_names=("x-bridge-token",),
)


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_hash_token_matches_provisioning() -> None:
    """The inbox hashes tokens exactly as provisioning stores them."""
    assert hash_token("abc") == crypto.hash_token("abc")


def test_signature_with_current_or_retired_secret_is_accepted() -> None:
    """During a rotation both the new and the previous secret verify."""
    assert signature_matches(BODY, sign(BODY, "new-secret"), CREDS.secrets)
    assert signature_matches(BODY, sign(BODY, "old-secret"), CREDS.secrets)
    assert signature_matches(BODY, "sha256=" + sign(BODY, "old-secret").upper(), CREDS.secrets)
    assert not signature_matches(BODY, sign(BODY, "other"), CREDS.secrets)
    assert not signature_matches(BODY + b" ", sign(BODY, "new-secret"), CREDS.secrets)


def test_non_ascii_header_values_are_refused_not_crashed() -> None:
    """A garbled signature or token is simply wrong."""
    assert not signature_matches(BODY, "é" * 64, CREDS.secrets)
    verdict = verify(body=BODY, signature="\udcff", token="ü", credentials=CREDS, require="any")
    assert not verdict.ok


@pytest.mark.parametrize(
    ("require", "signature", "token", "ok", "reason"),
    [
        ("any", True, False, True, "ok"),
        ("any", False, True, True, "ok"),
        ("any", None, None, False, "missing_proof"),
        ("any", False, False, False, "bad_token"),
        ("any", False, None, False, "bad_signature"),
        ("token", True, None, False, "missing_token"),
        ("token", None, True, True, "ok"),
        ("signature", None, True, False, "missing_signature"),
        ("signature", True, False, True, "ok"),
        ("both", True, True, True, "ok"),
        ("both", True, False, False, "bad_token"),
        ("both", False, True, False, "bad_signature"),
        ("both", True, None, False, "missing_token"),
    ],
)
def test_require_modes(
    require: str, signature: bool | None, token: bool | None, ok: bool, reason: str
) -> None:
    """Each mode accepts exactly the proofs it asks for and names what was wrong."""
    sig = None if signature is None else sign(BODY, "new-secret" if signature else "nope")
    tok = None if token is None else ("the-token" if token else "wrong-token")
    verdict = verify(body=BODY, signature=sig, token=tok, credentials=CREDS, require=require)  # type: ignore[arg-type]
    assert (verdict.ok, verdict.reason) == (ok, reason)


def test_no_credentials_refuses_everything() -> None:
    """An unprovisioned bridge accepts nothing, whatever is presented."""
    verdict = verify(
        body=BODY, signature=sign(BODY, "x"), token="t", credentials=Credentials(), require="any"
    )
    assert (verdict.ok, verdict.reason) == (False, "no_credentials")
