"""Statements of ``sql/queries/admin.sql``."""

from __future__ import annotations

from uuid import UUID

from asyncpg import Record

from chatr_server.db.queries import Queries
from chatr_server.repos.types import Executor


class AdminRepo:
    def __init__(self, queries: Queries) -> None:
        self._q = queries.admin

    async def is_support(self, db: Executor, user_id: UUID | str) -> bool:
        return bool(await db.fetchval(self._q.is_support, user_id))

    async def widget_contacts(self, db: Executor) -> list[Record]:
        return await db.fetch(self._q.widget_contacts)

    async def guest(self, db: Executor, guest_id: UUID) -> Record | None:
        return await db.fetchrow(self._q.guest, guest_id)

    async def guest_messages(self, db: Executor, guest_id: UUID) -> list[Record]:
        return await db.fetch(self._q.guest_messages, guest_id)

    async def delete_guest(self, db: Executor, guest_id: UUID) -> bool:
        return await db.fetchval(self._q.delete_guest, guest_id) is not None

    async def sender_card(self, db: Executor, user_id: UUID | str) -> Record | None:
        return await db.fetchrow(self._q.sender_card, user_id)

    async def account_by_email(self, db: Executor, email: str) -> Record | None:
        return await db.fetchrow(self._q.verified_account_by_email, email)

    async def make_sole_support(self, db: Executor, user_id: UUID) -> list[str]:
        """Flag ``user_id`` as the agent; returns the usernames that lost the flag."""
        cleared = [r["username"] for r in await db.fetch(self._q.clear_other_support, user_id)]
        await db.execute(self._q.make_support, user_id)
        return cleared
