"""Statements of ``sql/queries/calls.sql``."""

from __future__ import annotations

from uuid import UUID

from asyncpg import Record

from chatr_server.db.queries import Queries
from chatr_server.repos.friendships import FriendshipsRepo
from chatr_server.repos.types import Executor


class CallsRepo:
    def __init__(self, queries: Queries) -> None:
        self._q = queries.calls
        self._friendships = FriendshipsRepo(queries)

    async def in_call(self, db: Executor, user_id: UUID | str) -> bool:
        return bool(await db.fetchval(self._q.in_call, user_id))

    async def create(self, db: Executor, caller_id: str, receiver_id: UUID) -> UUID:
        return await db.fetchval(self._q.create, caller_id, receiver_id)

    async def accept(self, db: Executor, call_id: UUID, receiver_id: str) -> UUID | None:
        return await db.fetchval(self._q.accept, call_id, receiver_id)

    async def reject(self, db: Executor, call_id: UUID, receiver_id: str) -> UUID | None:
        return await db.fetchval(self._q.reject, call_id, receiver_id)

    async def hang_up(self, db: Executor, call_id: UUID, user_id: str) -> Record | None:
        return await db.fetchrow(self._q.hang_up, call_id, user_id)

    async def miss_if_ringing(self, db: Executor, call_id: UUID) -> Record | None:
        return await db.fetchrow(self._q.miss_if_ringing, call_id)

    async def live_parties(self, db: Executor, call_id: UUID, user_id: str) -> Record | None:
        return await db.fetchrow(self._q.live_parties, call_id, user_id)

    async def caller_card(self, db: Executor, user_id: str) -> Record | None:
        return await db.fetchrow(self._q.caller_card, user_id)

    async def blocked_between(self, db: Executor, a: str, b: UUID) -> bool:
        return await self._friendships.blocked(db, a, b)
