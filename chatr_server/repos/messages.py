"""Statements of ``sql/queries/messages.sql`` (direct messages)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from asyncpg import Record

from chatr_server.db.queries import Queries
from chatr_server.repos.types import Executor

Id = UUID | str


class MessagesRepo:
    def __init__(self, queries: Queries) -> None:
        self._q = queries.messages

    async def history_anchor(self, db: Executor, message_id: Id, lo: Id, hi: Id) -> Record | None:
        return await db.fetchrow(self._q.history_anchor, message_id, lo, hi)

    async def history_latest(self, db: Executor, lo: Id, hi: Id, limit: int) -> list[Record]:
        return await db.fetch(self._q.history_latest, lo, hi, limit)

    async def history_before(
        self, db: Executor, lo: Id, hi: Id, created_at: datetime, message_id: Id, limit: int
    ) -> list[Record]:
        return await db.fetch(self._q.history_before, lo, hi, created_at, message_id, limit)

    async def reactions_for(self, db: Executor, message_ids: list[UUID]) -> list[Record]:
        return await db.fetch(self._q.reactions_for, message_ids)

    async def mark_read(self, db: Executor, message_ids: list[UUID], recipient_id: Id) -> None:
        await db.execute(self._q.mark_read, message_ids, recipient_id)

    async def by_id(self, db: Executor, message_id: Id) -> Record | None:
        return await db.fetchrow(self._q.by_id, message_id)

    async def set_waveform(
        self, db: Executor, message_id: Id, waveform: list[float], duration: float | None
    ) -> Record | None:
        return await db.fetchrow(self._q.set_waveform, message_id, waveform, duration)

    async def set_detected_duration(
        self, db: Executor, message_id: Id, duration: float
    ) -> Record | None:
        return await db.fetchrow(self._q.set_detected_duration, message_id, duration)

    async def insert_file_message(self, db: Executor, values: tuple[Any, ...]) -> Record:
        """Insert (sender, recipient, content, type, url, name, size, mime, waveform, duration)."""
        row = await db.fetchrow(self._q.insert_file_message, *values)
        assert row is not None
        return row

    async def ensure_conversation(self, db: Executor, initiator_id: Id, other_id: Id) -> None:
        await db.execute(self._q.ensure_conversation, initiator_id, other_id)

    async def conversation_list(self, db: Executor, user_id: Id) -> list[Record]:
        return await db.fetch(self._q.conversation_list, user_id)
