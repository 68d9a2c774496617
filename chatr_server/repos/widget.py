"""Statements of ``sql/queries/widget.sql``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from asyncpg import Record

from chatr_server.db.queries import Queries
from chatr_server.repos.types import Executor


class WidgetRepo:
    def __init__(self, queries: Queries) -> None:
        self._q = queries.widget

    async def support_agent(self, db: Executor) -> Record | None:
        return await db.fetchrow(self._q.support_agent)

    async def guest_for_resume(self, db: Executor, guest_id: UUID) -> Record | None:
        return await db.fetchrow(self._q.guest_for_resume, guest_id)

    async def insert_guest(self, db: Executor, values: tuple[Any, ...]) -> Record:
        """Insert (username, display name, password hash, contact email, context, nonce)."""
        row = await db.fetchrow(self._q.insert_guest, *values)
        assert row is not None
        return row

    async def resume_guest(
        self,
        db: Executor,
        guest_id: UUID,
        name: str,
        contact_email: str | None,
        context: dict[str, Any] | None,
        nonce: str,
    ) -> Record | None:
        return await db.fetchrow(
            self._q.resume_guest, guest_id, name, contact_email, context, nonce
        )

    async def guest_identity(self, db: Executor, user_id: UUID | str) -> Record | None:
        return await db.fetchrow(self._q.guest_identity, user_id)

    async def history(self, db: Executor, guest_id: UUID | str, agent_id: UUID) -> list[Record]:
        return await db.fetch(self._q.history, guest_id, agent_id)

    async def insert_message(self, db: Executor, values: tuple[Any, ...]) -> Record:
        """Insert (sender, recipient, content, type, file url, name, size, mime)."""
        row = await db.fetchrow(self._q.insert_message, *values)
        assert row is not None
        return row

    async def conversation_for_pair(
        self, db: Executor, sender: UUID | str, other: UUID | str
    ) -> Record:
        """The pair's conversation, created sorted (initiator ``sender``) when missing."""
        row = await db.fetchrow(self._q.conversation_for_pair, sender, other)
        assert row is not None
        return row

    async def accept_conversation(self, db: Executor, conversation_id: UUID) -> None:
        await db.execute(self._q.accept_conversation, conversation_id)

    async def delete_stale_guests(self, db: Executor, older_than_s: float) -> list[UUID]:
        return [r["id"] for r in await db.fetch(self._q.delete_stale_guests, older_than_s)]
