"""Statements of ``sql/queries/friendships.sql``."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from asyncpg import Record

from chatr_server.db.queries import Queries
from chatr_server.repos.types import Executor

Id = UUID | str


class FriendshipsRepo:
    def __init__(self, queries: Queries) -> None:
        self._q = queries.friendships

    async def lock_pair(self, db: Executor, a: Id, b: Id) -> None:
        """Transaction-scoped lock on the unordered pair (call inside a transaction)."""
        await db.execute(self._q.lock_pair, a, b)

    async def user_exists(self, db: Executor, user_id: Id) -> bool:
        return bool(await db.fetchval(self._q.user_exists, user_id))

    async def by_id(self, db: Executor, friendship_id: Id) -> Record | None:
        return await db.fetchrow(self._q.by_id, friendship_id)

    async def by_id_for_update(self, db: Executor, friendship_id: Id) -> Record | None:
        return await db.fetchrow(self._q.by_id_for_update, friendship_id)

    async def between(self, db: Executor, a: Id, b: Id) -> list[Record]:
        return await db.fetch(self._q.between, a, b)

    async def insert(self, db: Executor, requester: Id, addressee: Id, status: str) -> Record:
        row = await db.fetchrow(self._q.insert, requester, addressee, status)
        assert row is not None
        return row

    async def accept(self, db: Executor, friendship_id: Id) -> Record | None:
        return await db.fetchrow(self._q.accept, friendship_id)

    async def delete(self, db: Executor, friendship_id: Id) -> None:
        await db.execute(self._q.delete, friendship_id)

    async def clear_for_block(self, db: Executor, blocker: Id, target: Id) -> None:
        await db.execute(self._q.clear_for_block, blocker, target)

    async def delete_block(self, db: Executor, blocker: Id, target: Id) -> UUID | None:
        return await db.fetchval(self._q.delete_block, blocker, target)

    async def block_flags(self, db: Executor, a: Id, b: Id) -> tuple[bool, bool]:
        """(a has blocked b, b has blocked a)."""
        row = await db.fetchrow(self._q.block_flags, a, b)
        assert row is not None
        return row["by_a"], row["by_b"]

    async def blocked(self, db: Executor, a: Id, b: Id) -> bool:
        """Whether either user has blocked the other."""
        by_a, by_b = await self.block_flags(db, a, b)
        return by_a or by_b

    async def are_friends(self, db: Executor, a: Id, b: Id) -> bool:
        return bool(await db.fetchval(self._q.are_friends, a, b))

    async def card_user(self, db: Executor, user_id: Id) -> Record | None:
        return await db.fetchrow(self._q.card_user, user_id)

    async def list_friends(self, db: Executor, user_id: Id) -> list[Record]:
        return await db.fetch(self._q.list_friends, user_id)

    async def list_incoming(self, db: Executor, user_id: Id) -> list[Record]:
        return await db.fetch(self._q.list_incoming, user_id)

    async def list_outgoing(self, db: Executor, user_id: Id) -> list[Record]:
        return await db.fetch(self._q.list_sent, user_id, "pending")

    async def list_blocked(self, db: Executor, user_id: Id) -> list[Record]:
        return await db.fetch(self._q.list_sent, user_id, "blocked")

    async def search(self, db: Executor, user_id: Id, needle: str, limit: int) -> list[Record]:
        return await db.fetch(self._q.search, user_id, needle, limit)

    async def refs_for(self, db: Executor, user_id: Id, others: Sequence[Id]) -> list[Record]:
        return await db.fetch(self._q.refs_for, user_id, list(others))

    async def connected(self, db: Executor, user_id: Id) -> list[Record]:
        return await db.fetch(self._q.connected, user_id)

    async def update_privacy(
        self, db: Executor, user_id: Id, levels: Sequence[str | None]
    ) -> UUID | None:
        """Set the six privacy columns (online, phone, email, full name, gender, joined)."""
        return await db.fetchval(self._q.update_privacy, user_id, *levels)
