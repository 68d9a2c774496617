"""Statements of ``sql/queries/conversations.sql``."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from asyncpg import Record

from chatr_server.db.queries import Queries
from chatr_server.repos.types import Executor

Id = UUID | str


class ConversationsRepo:
    def __init__(self, queries: Queries) -> None:
        self._q = queries.conversations

    async def by_id(self, db: Executor, conversation_id: Id) -> Record | None:
        return await db.fetchrow(self._q.by_id, conversation_id)

    async def by_id_for_update(self, db: Executor, conversation_id: Id) -> Record | None:
        return await db.fetchrow(self._q.by_id_for_update, conversation_id)

    async def get_or_create(self, db: Executor, sender: Id, recipient: Id) -> Record:
        """The pair's conversation; a new one has ``sender`` as initiator."""
        row = await db.fetchrow(self._q.get_or_create, sender, recipient)
        assert row is not None
        return row

    async def accept(self, db: Executor, conversation_id: Id) -> Record | None:
        return await db.fetchrow(self._q.accept, conversation_id)

    async def delete_pair_messages(self, db: Executor, a: Id, b: Id) -> int:
        """How many messages of the pair were deleted."""
        return await db.fetchval(self._q.delete_pair_messages, a, b)

    async def delete(self, db: Executor, conversation_id: Id) -> None:
        await db.execute(self._q.delete, conversation_id)

    async def delete_pair(self, db: Executor, a: Id, b: Id) -> UUID | None:
        """``a < b``; the deleted row's id, if there was one."""
        return await db.fetchval(self._q.delete_pair, a, b)

    async def delete_guests(self, db: Executor, user_ids: Sequence[Id]) -> list[UUID]:
        return [r["id"] for r in await db.fetch(self._q.delete_guests, list(user_ids))]
