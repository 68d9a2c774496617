"""JWT issue and verification: HS256 with one secret for every token type."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

USER_TOKEN_LIFETIME_S = 365 * 24 * 3600
GUEST_TOKEN_LIFETIME_S = 24 * 3600
# Tokens verified lately, kept with their claims (issued tokens are ~200 bytes: ~1 MB).
VERIFIED_CACHE_SIZE = 4096


class TokenError(Exception):
    """The token is malformed, forged or expired."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: str
    username: str | None
    issued_at: int
    expires_at: int


def token_hash(token: str) -> str:
    """SHA-256 hex of the token: what the revocation list stores."""
    return hashlib.sha256(token.encode()).hexdigest()


class TokenService:
    def __init__(self, secret: str, *, clock: Callable[[], float] = time.time) -> None:
        """``clock``: wall-clock seconds, for expiry (tests pass their own)."""
        if not secret:
            raise ValueError("a JWT secret is required")
        self._secret = secret
        self._clock = clock
        # A client presents the same token on every request and every reconnect, and
        # PyJWT's decode (~30 µs: key checks, two JSON parses, the HMAC) was a tenth of
        # a reconnect storm's CPU. Only tokens that passed decode are kept (an attacker
        # cannot fill this with garbage), keyed by the whole token string, signature
        # included; a hit still checks expiry. Oldest first out.
        self._verified: dict[str, TokenClaims] = {}

    def issue_user_token(self, user_id: str, username: str) -> str:
        now = int(time.time())
        claims = {
            "userId": user_id,
            "username": username,
            "iat": now,
            "exp": now + USER_TOKEN_LIFETIME_S,
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def issue_guest_token(self, user_id: str) -> str:
        now = int(time.time())
        claims = {"userId": user_id, "iat": now, "exp": now + GUEST_TOKEN_LIFETIME_S}
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def decode(self, token: str) -> TokenClaims:
        """Verify signature and expiry; only HS256 is accepted (never ``none``)."""
        verified = self._verified
        known = verified.get(token)
        if known is not None:
            if self._clock() < known.expires_at:
                return known
            del verified[token]
            raise TokenError("Signature has expired")
        known = self._verify(token)
        if len(verified) >= VERIFIED_CACHE_SIZE:
            del verified[next(iter(verified))]
        verified[token] = known
        return known

    def _verify(self, token: str) -> TokenClaims:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                options={"require": ["exp", "iat"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenError(str(exc)) from None
        user_id = claims.get("userId")
        if not isinstance(user_id, str) or not user_id:
            raise TokenError("token has no userId")
        username = claims.get("username")
        return TokenClaims(
            user_id=user_id,
            username=username if isinstance(username, str) else None,
            issued_at=int(claims["iat"]),
            expires_at=int(claims["exp"]),
        )


def bearer_token(header: str | None) -> str | None:
    """The second word of ``Authorization`` (the scheme word is not checked, as in the original).

    Shared by the REST handlers and the socket handshake.
    """
    if not header:
        return None
    parts = header.split()
    if len(parts) < 2 or not parts[1]:
        return None
    return parts[1]
