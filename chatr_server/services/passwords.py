"""Password hashing with bcrypt, off the event loop (a hash costs tens of ms)."""

from __future__ import annotations

import asyncio

import bcrypt

# bcrypt only looks at the first 72 bytes; longer inputs are refused upstream.
MAX_PASSWORD_BYTES = 72

# A valid hash of a random password, checked when a login names no user, so a
# missing account takes as long to reject as a wrong password.
_DUMMY_HASH = bcrypt.hashpw(b"no-such-user-placeholder", bcrypt.gensalt(4))


class PasswordHasher:
    def __init__(self, rounds: int = 10) -> None:
        self._rounds = rounds

    async def hash(self, password: str) -> str:
        raw = password.encode()[:MAX_PASSWORD_BYTES]
        digest = await asyncio.to_thread(bcrypt.hashpw, raw, bcrypt.gensalt(self._rounds))
        return digest.decode()

    async def verify(self, password: str, hashed: str | None) -> bool:
        raw = password.encode()[:MAX_PASSWORD_BYTES]
        if not hashed:
            await asyncio.to_thread(bcrypt.checkpw, raw, _DUMMY_HASH)
            return False
        try:
            return await asyncio.to_thread(bcrypt.checkpw, raw, hashed.encode())
        except ValueError:
            return False
