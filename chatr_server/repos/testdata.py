"""Statements of ``sql/queries/testmode.sql``."""

from __future__ import annotations

from typing import Any

from chatr_server.db.queries import Queries
from chatr_server.repos.types import Executor


def _count(status: str) -> int:
    """Row count from an asyncpg command status such as ``DELETE 3``."""
    return int(status.split()[-1])


class TestDataRepo:
    __test__ = False

    def __init__(self, queries: Queries) -> None:
        self._q = queries.testmode

    async def delete_e2e_messages(
        self, db: Executor, user_id: Any, other_id: Any, prefixes: list[str], files: list[str]
    ) -> int:
        return _count(
            await db.execute(self._q.delete_e2e_messages, user_id, other_id, prefixes, files)
        )

    async def delete_pair_conversation_if_empty(
        self, db: Executor, user_id: Any, other_id: Any
    ) -> None:
        await db.execute(self._q.delete_pair_conversation_if_empty, user_id, other_id)

    async def count_e2e_group_messages(self, db: Executor, prefixes: list[str]) -> int:
        return int(await db.fetchval(self._q.count_e2e_group_messages, prefixes))

    async def delete_e2e_groups(self, db: Executor, prefixes: list[str]) -> int:
        return _count(await db.execute(self._q.delete_e2e_groups, prefixes))

    async def restore_images(
        self, db: Executor, user_id: str, profile: tuple[bool, Any], cover: tuple[bool, Any]
    ) -> None:
        await db.execute(self._q.restore_images, user_id, *profile, *cover)
