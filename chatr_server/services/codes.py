"""One-time verification codes: issue, store hashed, check in constant time.

One row per (user, purpose) in PostgreSQL is the single source of truth, so a
newly issued code always replaces the previous one (the original kept two
copies that could disagree). Codes are 6 digits from ``secrets``; the stored
hash is an HMAC keyed with the server secret, so a database dump alone does
not reveal them. Each code allows a few wrong guesses, then it is burned.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from datetime import timedelta

import asyncpg

from chatr_server.repos.codes import CodesRepo
from chatr_server.util.timefmt import utcnow

CODE_TTL = timedelta(minutes=15)
# 5 guesses against 900,000 codes: a 1 in 180,000 chance per issued code.
MAX_ATTEMPTS = 5


class CodeCheck(enum.Enum):
    OK = "ok"
    MISSING = "missing"
    EXPIRED = "expired"
    WRONG = "wrong"
    LOCKED = "locked"


def generate_code() -> str:
    return f"{secrets.randbelow(900_000) + 100_000:06d}"


class CodeService:
    def __init__(self, repo: CodesRepo, secret: str) -> None:
        self._repo = repo
        self._key = hashlib.sha256(b"chatr-otp:" + secret.encode()).digest()

    def _hash(self, user_id: str, purpose: str, code: str) -> str:
        message = f"{user_id}:{purpose}:{code}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    async def issue(
        self, conn: asyncpg.Connection, user_id: str, purpose: str, method: str | None = None
    ) -> str:
        """Create a fresh code for ``purpose``, replacing any earlier one."""
        code = generate_code()
        code_hash = self._hash(str(user_id), purpose, code)
        await self._repo.upsert(conn, user_id, purpose, code_hash, method, utcnow() + CODE_TTL)
        return code

    async def check(
        self, conn: asyncpg.Connection, user_id: str, purpose: str, code: str
    ) -> CodeCheck:
        """Compare ``code`` with the stored one; consume it on success."""
        async with conn.transaction():
            row = await self._repo.get_for_update(conn, user_id, purpose)
            if row is None:
                return CodeCheck.MISSING
            if row["attempts"] >= MAX_ATTEMPTS:
                await self._repo.delete(conn, user_id, purpose)
                return CodeCheck.LOCKED
            if row["expires_at"] <= utcnow():
                await self._repo.delete(conn, user_id, purpose)
                return CodeCheck.EXPIRED
            expected = row["code_hash"]
            given = self._hash(str(user_id), purpose, code)
            if hmac.compare_digest(expected, given):
                await self._repo.delete(conn, user_id, purpose)
                return CodeCheck.OK
            attempts = await self._repo.add_attempt(conn, user_id, purpose)
            if attempts >= MAX_ATTEMPTS:
                await self._repo.delete(conn, user_id, purpose)
                return CodeCheck.LOCKED
            return CodeCheck.WRONG

    async def method(self, conn: asyncpg.Connection, user_id: str, purpose: str) -> str | None:
        row = await self._repo.get_for_update(conn, user_id, purpose)
        return None if row is None else row["method"]

    async def discard(self, conn: asyncpg.Connection, user_id: str, purpose: str) -> None:
        await self._repo.delete(conn, user_id, purpose)
