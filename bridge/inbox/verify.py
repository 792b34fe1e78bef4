"""Is this delivery from ION? Pure checks of the two proofs a delivery can carry.

- the custom receiver header: a random token the bridge provisioned; only its SHA-256 is kept,
  so the presented token is hashed and the hashes compared;
- `x-ion-signature`: hex HMAC-SHA256 of the raw body with the receiver's shared secret (the
  scheme is assumed, ion.md), tried against every active secret so a rotation in progress
  keeps working.

Every comparison is `hmac.compare_digest`: the time taken must not tell an attacker how many
leading characters were right. Which proofs are required is the setting `inbox_require`.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Literal

Require = Literal["any", "token", "signature", "both"]


@dataclass(frozen=True, kw_only=True)
class Credentials:
    """The receiver's secrets in force now: current ones plus those retired within the grace."""

    #: Never in a repr: a traceback or a debug print must not show them.
    secrets: tuple[str, ...] = field(default=(), repr=False)
    token_hashes: tuple[str, ...] = ()
    #: Header names the token may arrive in (lower-case).
    header_names: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.secrets and not self.token_hashes


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """The outcome: `ok`, or the reason (a metric label, safe to log) it was refused."""

    ok: bool
    reason: str
    proofs: tuple[str, ...] = field(default=())


def hash_token(token: str) -> str:
    """The stored form of a header token (same as provisioning's)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def signature_matches(body: bytes, signature: str, secrets: tuple[str, ...]) -> bool:
    """True if `signature` is the hex HMAC-SHA256 of `body` under any of `secrets`."""
    presented = signature.strip().lower()
    if presented.startswith("sha256="):
        presented = presented[len("sha256=") :]
    matched = False
    for secret in secrets:
        # One-shot digest, the whole HMAC in C: about half the time of `hmac.new(...).hexdigest()`.
        expected = hmac.digest(secret.encode("utf-8"), body, "sha256").hex()
        # No early exit: every secret is tried, whichever matched.
        matched |= hmac.compare_digest(expected.encode("ascii"), _bytes(presented))
    return matched


def token_matches(token: str, token_hashes: tuple[str, ...]) -> bool:
    """True if the SHA-256 of `token` is one of `token_hashes`."""
    presented = hash_token(token)
    matched = False
    for stored in token_hashes:
        matched |= hmac.compare_digest(_bytes(stored.lower()), presented.encode("ascii"))
    return matched


def _bytes(text: str) -> bytes:
    # compare_digest refuses non-ASCII str; headers arrive latin-1 decoded and may be anything.
    return text.encode("utf-8", "surrogateescape")


def verify(
    *,
    body: bytes,
    signature: str | None,
    token: str | None,
    credentials: Credentials,
    require: Require,
) -> Verdict:
    """Check the proofs a delivery carries against `credentials` as `require` demands."""
    if credentials.empty:
        return Verdict(ok=False, reason="no_credentials")
    if not signature and not token:
        return Verdict(ok=False, reason="missing_proof")
    signed = bool(signature) and signature_matches(body, signature or "", credentials.secrets)
    tokened = bool(token) and token_matches(token or "", credentials.token_hashes)
    proofs = tuple(name for name, ok in (("signature", signed), ("token", tokened)) if ok)
    wanted = {
        "any": signed or tokened,
        "token": tokened,
        "signature": signed,
        "both": signed and tokened,
    }[require]
    if wanted:
        return Verdict(ok=True, reason="ok", proofs=proofs)
    return Verdict(ok=False, reason=_failure(require, signature, token, signed, tokened))


def _failure(
    require: Require, signature: str | None, token: str | None, signed: bool, tokened: bool
) -> str:
    """The most useful single reason: a missing proof, or the one that did not match."""
    if require in ("token", "both") and not token:
        return "missing_token"
    if require in ("signature", "both") and not signature:
        return "missing_signature"
    if token and not tokened and require != "signature":
        return "bad_token"
    return "bad_signature"
