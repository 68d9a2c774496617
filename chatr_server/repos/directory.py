"""Statements of ``sql/queries/directory.sql``: users as seen by other users."""

from __future__ import annotations

from uuid import UUID

from asyncpg import Record

from chatr_server.db.queries import Queries
from chatr_server.repos.types import Executor

Id = UUID | str


class DirectoryRepo:
    def __init__(self, queries: Queries) -> None:
        self._q = queries.directory

    async def list_users(self, db: Executor, viewer_id: Id, cap: int) -> list[Record]:
        return await db.fetch(self._q.list_users, viewer_id, cap)

    async def search_users(
        self, db: Executor, viewer_id: Id, pattern: str, cap: int
    ) -> list[Record]:
        return await db.fetch(self._q.search_users, viewer_id, pattern, cap)

    async def profile_view(self, db: Executor, viewer_id: Id, target_id: Id) -> Record | None:
        return await db.fetchrow(self._q.profile_view, viewer_id, target_id)

    async def profile_by_username(
        self, db: Executor, viewer_id: Id, username: str
    ) -> Record | None:
        return await db.fetchrow(self._q.profile_by_username, viewer_id, username)

    async def user_exists(self, db: Executor, user_id: Id) -> bool:
        return bool(await db.fetchval(self._q.user_exists, user_id))

    async def replace_profile_image(self, db: Executor, user_id: Id, url: str) -> Record | None:
        return await db.fetchrow(self._q.replace_profile_image, user_id, url)

    async def replace_cover_image(self, db: Executor, user_id: Id, url: str) -> Record | None:
        return await db.fetchrow(self._q.replace_cover_image, user_id, url)

    async def clear_profile_image(self, db: Executor, user_id: Id) -> Record | None:
        return await db.fetchrow(self._q.clear_profile_image, user_id)

    async def clear_cover_image(self, db: Executor, user_id: Id) -> Record | None:
        return await db.fetchrow(self._q.clear_cover_image, user_id)
