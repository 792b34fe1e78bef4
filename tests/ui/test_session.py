"""The sign-in and CSRF primitives behind the status page."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from bridge.ui import session as session_module
from bridge.ui.session import SESSION_SECONDS, SessionSigner, token_matches

TOKEN = "admin-token-0123456789"


def test_token_matches_only_the_exact_token() -> None:
    """Only the configured token signs in: prefixes, extensions and case changes are refused."""
    assert token_matches(TOKEN, TOKEN)
    for wrong in ("", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), "x" * 200):
        assert not token_matches(wrong, TOKEN)


def test_token_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tokens are compared with compare_digest over equal-length digests, whatever the guess."""
    seen: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        seen.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(session_module.hmac, "compare_digest", spy)
    for guess in ("a", TOKEN[:5], "z" * 500):
        assert not token_matches(guess, TOKEN)
    assert seen == [(32, 32)] * 3


def test_session_value_is_valid_until_it_expires() -> None:
    """A session lasts SESSION_SECONDS and then needs a new sign-in."""
    signer = SessionSigner.for_token(TOKEN)
    value = signer.issue(1_000_000)
    assert signer.valid(value, 1_000_000 + SESSION_SECONDS)
    assert not signer.valid(value, 1_000_001 + SESSION_SECONDS)


def test_session_value_never_contains_the_token() -> None:
    """The cookie value carries neither the token nor its plain hash."""
    value = SessionSigner.for_token(TOKEN).issue(1_000_000)
    assert TOKEN not in value
    assert hashlib.sha256(TOKEN.encode()).hexdigest() not in value


@pytest.mark.parametrize(
    "forged",
    ["", "garbage", "1000000.", "1000000.deadbeef", "x.y.z", "abc.0000"],
)
def test_forged_session_values_are_refused(forged: str) -> None:
    """Values not signed by this signer are not sessions."""
    assert not SessionSigner.for_token(TOKEN).valid(forged, 1_000_000)


def test_rotating_the_admin_token_ends_sessions() -> None:
    """A session issued under the old token is not valid under a new one."""
    value = SessionSigner.for_token(TOKEN).issue(1_000_000)
    assert not SessionSigner.for_token("another-token-98765").valid(value, 1_000_000)


def test_csrf_token_is_bound_to_its_session() -> None:
    """A form token from one session does not work in another."""
    signer = SessionSigner.for_token(TOKEN)
    one, two = signer.issue(1_000_000), signer.issue(1_000_100)
    assert signer.csrf_valid(one, signer.csrf_token(one))
    assert not signer.csrf_valid(two, signer.csrf_token(one))
    assert not signer.csrf_valid(one, None)
    assert not signer.csrf_valid(one, "")
