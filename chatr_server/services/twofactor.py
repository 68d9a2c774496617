"""TOTP two-factor setup and confirmation (rest.md §2 ``/2fa/*``, behaviors.md §2).

Setup stores a fresh secret (not yet enabled); verify checks a code (SHA-1,
6 digits, 30 s, ±2 steps), enables 2FA and hands out a fresh token. Login
never asks for TOTP: the web client cannot supply it.

The original let a caller guess codes without limit. Accepting ±2 steps means
five codes are valid at any moment (a blind guess wins 1 in 200,000), so
attempts are counted per user and refused after :data:`MAX_ATTEMPTS` without
a success, until the counter lapses.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import asyncpg
import pyotp
import qrcode

from chatr_server.errors import ServiceError, bad_request, not_found, unauthorized
from chatr_server.repos.users import UsersRepo
from chatr_server.services.dependencies import is_dependency_outage
from chatr_server.services.tokens import TokenService
from chatr_server.store import KeyValueStore
from chatr_server.util.timefmt import iso_ms

log = logging.getLogger(__name__)

VALID_WINDOW = 2
MAX_ATTEMPTS = 5
LOCKOUT_S = 900
# encodeURIComponent's unreserved set, so the label reads `Chatr%20(%40alice)` as specified.
_URI_SAFE = "!*'()"


def otpauth_uri(secret: str, username: str, issuer: str) -> str:
    """The ``otpauth://`` URL an authenticator app scans (label ``<issuer> (<username>)``)."""
    label = quote(f"{issuer} ({username})", safe=_URI_SAFE)
    return (
        f"otpauth://totp/{label}?secret={quote(secret, safe='')}"
        f"&issuer={quote(issuer, safe=_URI_SAFE)}"
    )


def qr_data_url(text: str) -> str:
    """A PNG QR code of ``text`` as a ``data:`` URL."""
    image = qrcode.make(text)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def two_factor_user(row: Mapping[str, Any]) -> dict[str, Any]:
    """The ``user`` object of the ``/2fa/verify`` success body."""
    return {
        "id": str(row["id"]),
        "email": row["email"],
        "username": row["username"],
        "createdAt": iso_ms(row["created_at"]),
        "twoFactorEnabled": row["two_factor_enabled"],
        "isSupport": row["is_support"],
    }


class TwoFactorService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        users: UsersRepo,
        tokens: TokenService,
        store: KeyValueStore,
        issuer: str = "Chatr",
    ) -> None:
        self._pool = pool
        self._users = users
        self._tokens = tokens
        self._store = store
        self._issuer = issuer

    async def setup(self, user_id: str) -> dict[str, Any]:
        secret = pyotp.random_base32()
        username = await self._users.set_two_factor_secret(self._pool, user_id, secret)
        if username is None:
            raise not_found("User not found")
        await self._clear_failures(user_id)
        uri = otpauth_uri(secret, username, self._issuer)
        # Rendering the PNG is CPU work; keep it off the event loop.
        qr = await asyncio.to_thread(qr_data_url, uri)
        return {"secret": secret, "qrCode": qr, "otpauth": uri}

    async def verify(self, user_id: str, code: Any) -> dict[str, Any]:
        if not code:
            raise bad_request("Verification code is required")
        user = await self._users.by_id(self._pool, user_id)
        if user is None or not user["two_factor_secret"]:
            raise not_found("User not found or 2FA not set up")
        # Count the attempt before checking it, so parallel guesses cannot slip past the cap.
        if await self._count_attempt(user_id) > MAX_ATTEMPTS:
            raise ServiceError(429, "Too many incorrect codes. Please try again later.")
        totp = pyotp.TOTP(user["two_factor_secret"])
        if not totp.verify(str(code).strip(), valid_window=VALID_WINDOW):
            raise unauthorized("Invalid 2FA code")
        await self._clear_failures(user_id)
        row = await self._users.enable_two_factor(self._pool, user_id)
        if row is None:
            raise not_found("User not found or 2FA not set up")
        return {
            "message": "2FA enabled successfully",
            "token": self._tokens.issue_user_token(str(row["id"]), row["username"]),
            "user": two_factor_user(row),
        }

    # ---- attempt counter (fails open: a store outage must not block 2FA) ----

    @staticmethod
    def _key(user_id: str) -> str:
        return f"2fa-fail:{user_id}"

    async def _count_attempt(self, user_id: str) -> int:
        """Attempts since the last success (the counter lapses :data:`LOCKOUT_S` after the last)."""
        try:
            return await self._store.hincrby(self._key(user_id), "n", 1, ttl_s=LOCKOUT_S)
        except Exception as exc:
            if is_dependency_outage(exc) is None:  # an outage is logged by the monitor
                log.warning("2fa attempt counter unavailable", exc_info=True)
            return 0

    async def _clear_failures(self, user_id: str) -> None:
        try:
            await self._store.delete(self._key(user_id))
        except Exception as exc:
            if is_dependency_outage(exc) is None:
                log.warning("2fa attempt counter unavailable", exc_info=True)
