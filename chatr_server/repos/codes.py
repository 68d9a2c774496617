"""Statements of ``sql/queries/codes.sql``."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from asyncpg import Record

from chatr_server.db.queries import Queries
from chatr_server.repos.types import Executor


class CodesRepo:
    def __init__(self, queries: Queries) -> None:
        self._q = queries.codes

    async def upsert(
        self,
        db: Executor,
        user_id: UUID | str,
        purpose: str,
        code_hash: str,
        method: str | None,
        expires_at: datetime,
    ) -> None:
        await db.execute(self._q.upsert, user_id, purpose, code_hash, method, expires_at)

    async def get_for_update(
        self, db: Executor, user_id: UUID | str, purpose: str
    ) -> Record | None:
        return await db.fetchrow(self._q.get_for_update, user_id, purpose)

    async def add_attempt(self, db: Executor, user_id: UUID | str, purpose: str) -> int:
        return int(await db.fetchval(self._q.add_attempt, user_id, purpose))

    async def delete(self, db: Executor, user_id: UUID | str, purpose: str) -> None:
        await db.execute(self._q.delete, user_id, purpose)
