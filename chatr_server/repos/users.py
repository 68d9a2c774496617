"""Statements of ``sql/queries/users.sql``."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from asyncpg import Record

from chatr_server.db.queries import Queries
from chatr_server.repos.types import Executor


class UsersRepo:
    def __init__(self, queries: Queries) -> None:
        self._q = queries.users

    async def by_id(self, db: Executor, user_id: UUID | str) -> Record | None:
        return await db.fetchrow(self._q.by_id, user_id)

    async def by_email_ci(self, db: Executor, email: str) -> Record | None:
        return await db.fetchrow(self._q.by_email_ci, email)

    async def by_username_ci(self, db: Executor, username: str) -> Record | None:
        return await db.fetchrow(self._q.by_username_ci, username)

    async def by_email_exact(self, db: Executor, email: str) -> Record | None:
        return await db.fetchrow(self._q.by_email_exact, email)

    async def unverified_by_phone(self, db: Executor, phone: str) -> Record | None:
        return await db.fetchrow(self._q.unverified_by_phone, phone)

    async def phone_verified_exists(self, db: Executor, phone: str) -> bool:
        return bool(await db.fetchval(self._q.phone_verified_exists, phone))

    async def id_by_username(self, db: Executor, username: str) -> UUID | None:
        return await db.fetchval(self._q.id_by_username, username)

    async def taken_usernames(self, db: Executor, usernames: list[str]) -> set[str]:
        return {r["username"] for r in await db.fetch(self._q.usernames_in, usernames)}

    async def insert(self, db: Executor, values: tuple[Any, ...]) -> UUID:
        """Insert (email, phone, username, display, first, last, password_hash, gender)."""
        return await db.fetchval(self._q.insert, *values)

    async def overwrite_unverified(
        self, db: Executor, user_id: UUID, values: tuple[Any, ...]
    ) -> None:
        await db.execute(self._q.overwrite_unverified, user_id, *values)

    async def mark_email_verified(self, db: Executor, user_id: UUID) -> None:
        await db.execute(self._q.mark_email_verified, user_id)

    async def mark_phone_verified(self, db: Executor, user_id: UUID) -> None:
        await db.execute(self._q.mark_phone_verified, user_id)

    async def set_login_method(self, db: Executor, user_id: UUID, method: str) -> None:
        await db.execute(self._q.set_login_method, user_id, method)

    async def update_profile(
        self, db: Executor, user_id: str, values: list[Any], present: list[bool]
    ) -> Record | None:
        """Set display/first/last name and gender; ``present`` says which keys were sent."""
        return await db.fetchrow(self._q.update_profile, user_id, *values, *present)

    async def set_password(self, db: Executor, user_id: UUID, password_hash: str) -> None:
        await db.execute(self._q.set_password, user_id, password_hash)

    async def auth_state(self, db: Executor, user_id: UUID, token_hash: str) -> Record:
        row = await db.fetchrow(self._q.auth_state, user_id, token_hash)
        assert row is not None
        return row

    async def socket_logins(
        self, db: Executor, user_ids: list[UUID], token_hashes: list[str]
    ) -> list[Record]:
        """One row per (user id, token hash), in order (see ``socket_logins`` in users.sql)."""
        return await db.fetch(self._q.socket_logins, user_ids, token_hashes)

    async def socket_logouts(
        self, db: Executor, user_ids: list[UUID], last_seen: datetime
    ) -> list[Record]:
        """One row per distinct user id, in order (see ``socket_logouts`` in users.sql)."""
        return await db.fetch(self._q.socket_logouts, user_ids, last_seen)

    async def revoke_token(self, db: Executor, token_hash: str, expires_at: datetime) -> None:
        await db.execute(self._q.revoke_token, token_hash, expires_at)

    async def purge_revoked(self, db: Executor) -> None:
        await db.execute(self._q.purge_revoked)

    async def delete(self, db: Executor, user_id: UUID | str) -> None:
        await db.execute(self._q.delete_user, user_id)

    async def set_two_factor_secret(
        self, db: Executor, user_id: UUID | str, secret: str
    ) -> str | None:
        """Store a new, not yet enabled, TOTP secret; returns the username (None: no user)."""
        return await db.fetchval(self._q.set_two_factor_secret, user_id, secret)

    async def enable_two_factor(self, db: Executor, user_id: UUID | str) -> Record | None:
        return await db.fetchrow(self._q.enable_two_factor, user_id)

    async def reset_password(
        self, db: Executor, user_id: UUID | str, password_hash: str
    ) -> datetime | None:
        """Set a new hash and revoke earlier tokens; returns the new ``tokens_valid_after``."""
        return await db.fetchval(self._q.reset_password, user_id, password_hash)
