"""Sign-in for the status page: the admin token is checked once, then a signed session cookie.

The cookie never holds the token, not even hashed on its own: it holds an issue time and an HMAC
of it under a key derived from the token. Rotating `BRIDGE_ADMIN_TOKEN` therefore signs everyone
out, and a stolen cookie expires by itself. The CSRF token of a form is another HMAC, bound to the
session value, so it needs no server-side storage and cannot be replayed from another session.

Every comparison is `hmac.compare_digest` over fixed-length digests: neither the length nor the
leading characters of a guess change the time a check takes. Pure code: `now` is passed in.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

COOKIE_NAME = "bridge_session"
#: A session lasts a working day; after that the token is asked for again.
SESSION_SECONDS = 12 * 3600


def _digest(data: str) -> bytes:
    return hashlib.sha256(data.encode("utf-8")).digest()


def token_matches(presented: str, admin_token: str) -> bool:
    """True when `presented` is the admin token; constant time whatever the guess."""
    # Hashing both sides first makes the compared values equally long, so a wrong length
    # returns no faster than a wrong last character.
    return hmac.compare_digest(_digest(presented), _digest(admin_token))


@dataclass(frozen=True)
class SessionSigner:
    """Issues and checks session cookie values and CSRF tokens for one admin token."""

    key: bytes

    @classmethod
    def for_token(cls, admin_token: str) -> SessionSigner:
        # A derived key, not the token: a leaked signing key would not open the admin API.
        key = hmac.new(admin_token.encode("utf-8"), b"bridge-ui-session-v1", "sha256").digest()
        return cls(key=key)

    def _mac(self, purpose: str, value: str) -> str:
        return hmac.new(self.key, f"{purpose}:{value}".encode(), "sha256").hexdigest()

    def issue(self, now: float) -> str:
        """A new session value, valid for SESSION_SECONDS from `now`."""
        issued = str(int(now))
        return f"{issued}.{self._mac('session', issued)}"

    def valid(self, value: str | None, now: float) -> bool:
        """True for a value this signer issued that has not yet expired."""
        if not value or value.count(".") != 1:
            return False
        issued, mac = value.split(".")
        if not hmac.compare_digest(mac.encode(), self._mac("session", issued).encode()):
            return False
        try:
            age = now - int(issued)
        except ValueError:
            return False
        # A small negative age tolerates clock steps between workers; a large one is forged.
        return -60 <= age <= SESSION_SECONDS

    def csrf_token(self, session_value: str) -> str:
        """The form token for this session."""
        return self._mac("csrf", session_value)

    def csrf_valid(self, session_value: str, presented: str | None) -> bool:
        """True when `presented` is this session's form token."""
        if not presented:
            return False
        expected = self.csrf_token(session_value)
        return hmac.compare_digest(_digest(presented), _digest(expected))
