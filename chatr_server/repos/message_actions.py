"""Statements of ``sql/queries/message_actions.sql``."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from asyncpg import Record

from chatr_server.db.queries import Queries
from chatr_server.repos.types import Executor


class MessageActionsRepo:
    def __init__(self, queries: Queries) -> None:
        self._q = queries.message_actions

    async def participants(self, db: Executor, message_id: UUID) -> Record | None:
        return await db.fetchrow(self._q.participants, message_id)

    async def remove_same_reaction(
        self, db: Executor, message_id: UUID, user_id: str, emoji: str
    ) -> bool:
        return (
            await db.fetchval(self._q.remove_same_reaction, message_id, user_id, emoji) is not None
        )

    async def upsert_reaction(
        self, db: Executor, message_id: UUID, user_id: str, emoji: str
    ) -> None:
        await db.execute(self._q.upsert_reaction, message_id, user_id, emoji)

    async def reactions(self, db: Executor, message_id: UUID) -> list[Record]:
        return await db.fetch(self._q.reactions, message_id)

    async def record_edit(
        self, db: Executor, message_id: UUID, editor_id: str, previous: str
    ) -> None:
        await db.execute(self._q.record_edit, message_id, editor_id, previous)

    async def apply_edit(self, db: Executor, message_id: UUID, content: str) -> datetime:
        return await db.fetchval(self._q.apply_edit, message_id, content)

    async def unsend(self, db: Executor, message_id: UUID, sender_id: str) -> UUID | None:
        return await db.fetchval(self._q.unsend, message_id, sender_id)

    async def edits(self, db: Executor, message_id: UUID) -> list[Record]:
        return await db.fetch(self._q.edits, message_id)
