"""Cleanup helpers for the e2e suite's test-mode routes (rest.md §13)."""

from __future__ import annotations

from typing import Any

import asyncpg

from chatr_server.repos.testdata import TestDataRepo
from chatr_server.repos.users import UsersRepo

E2E_MESSAGE_PREFIXES = (
    "Hello ",
    "Unsend ",
    "E2E test msg ",
    "Link https://example.com ",
    "Group msg ",
    "Realtime group ",
    "Check https://example.com ",
    "Accept test ",
    "Decline test ",
    "Nuke test ",
    "UI accept test ",
    "Should fail",
)
E2E_GROUP_PREFIXES = (
    "UI Group ",
    "Admin Test ",
    "Ownership Test ",
    "Kick Test ",
    "Leave Test ",
    "Delete Test ",
    "E2E GrpMsg ",
    "E2E Group ",
    "ProfileGrp ",
    "Test Group ",
    "Promote Test ",
)
E2E_FILE_NAMES = ("test-image.png", "test-audio.wav", "test-file.txt")


def _like_prefixes(prefixes: tuple[str, ...]) -> list[str]:
    escaped = (p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for p in prefixes)
    return [p + "%" for p in escaped]


class TestDataService:
    __test__ = False

    def __init__(self, pool: asyncpg.Pool, repo: TestDataRepo, users: UsersRepo) -> None:
        self._pool = pool
        self._repo = repo
        self._users = users

    async def cleanup_pair(self, user_id: str, recipient_id: Any) -> dict[str, Any]:
        groups = _like_prefixes(E2E_GROUP_PREFIXES)
        async with self._pool.acquire() as conn, conn.transaction():
            messages = await self._repo.delete_e2e_messages(
                conn,
                user_id,
                recipient_id,
                _like_prefixes(E2E_MESSAGE_PREFIXES),
                list(E2E_FILE_NAMES),
            )
            await self._repo.delete_pair_conversation_if_empty(conn, user_id, recipient_id)
            deleted_groups = await self._repo.delete_e2e_groups(conn, groups)
        return {"ok": True, "messagesDeleted": messages, "groupsDeleted": deleted_groups}

    async def cleanup_all(self) -> dict[str, Any]:
        groups = _like_prefixes(E2E_GROUP_PREFIXES)
        async with self._pool.acquire() as conn, conn.transaction():
            messages = await self._repo.count_e2e_group_messages(conn, groups)
            deleted_groups = await self._repo.delete_e2e_groups(conn, groups)
        return {"ok": True, "groupsDeleted": deleted_groups, "messagesDeleted": messages}

    async def restore_images(self, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
        await self._repo.restore_images(
            self._pool,
            user_id,
            ("profileImage" in body, body.get("profileImage")),
            ("coverImage" in body, body.get("coverImage")),
        )
        return {"ok": True}

    async def delete_user(self, user_id: Any) -> dict[str, Any]:
        # Every dependent row cascades from users (data.md §3).
        await self._users.delete(self._pool, user_id)
        return {"ok": True}
