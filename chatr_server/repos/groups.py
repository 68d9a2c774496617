"""Statements of ``sql/queries/groups.sql``."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from asyncpg import Record

from chatr_server.db.queries import Queries
from chatr_server.repos.types import Executor

Id = UUID | str


class GroupsRepo:
    def __init__(self, queries: Queries) -> None:
        self._q = queries.groups

    # --- groups ---------------------------------------------------------------------------

    async def insert_group(
        self, db: Executor, name: str, description: str | None, owner_id: Id
    ) -> Record:
        row = await db.fetchrow(self._q.insert_group, name, description, owner_id)
        assert row is not None
        return row

    async def group_by_id(self, db: Executor, group_id: Id) -> Record | None:
        return await db.fetchrow(self._q.group_by_id, group_id)

    async def lock_group(self, db: Executor, group_id: Id) -> Record | None:
        """The group row, locked until the transaction ends."""
        return await db.fetchrow(self._q.lock_group, group_id)

    async def update_group(
        self,
        db: Executor,
        group_id: Id,
        name: str | None,
        set_description: bool,
        description: str | None,
    ) -> Record | None:
        return await db.fetchrow(self._q.update_group, group_id, name, set_description, description)

    async def set_owner_id(self, db: Executor, group_id: Id, user_id: Id) -> None:
        await db.execute(self._q.set_owner_id, group_id, user_id)

    async def set_profile_image(self, db: Executor, group_id: Id, url: str | None) -> None:
        await db.execute(self._q.set_profile_image, group_id, url)

    async def set_cover_image(self, db: Executor, group_id: Id, url: str | None) -> None:
        await db.execute(self._q.set_cover_image, group_id, url)

    async def delete_group(self, db: Executor, group_id: Id) -> None:
        await db.execute(self._q.delete_group, group_id)

    async def message_file_urls(self, db: Executor, group_id: Id) -> list[str]:
        return [r["file_url"] for r in await db.fetch(self._q.message_file_urls, group_id)]

    async def groups_for_user(self, db: Executor, user_id: Id) -> list[Record]:
        return await db.fetch(self._q.groups_for_user, user_id)

    async def last_messages(self, db: Executor, group_ids: list[UUID]) -> list[Record]:
        return await db.fetch(self._q.last_messages, group_ids)

    async def invites_for_user(self, db: Executor, user_id: Id) -> list[Record]:
        return await db.fetch(self._q.invites_for_user, user_id)

    # --- memberships ----------------------------------------------------------------------

    async def member(self, db: Executor, group_id: Id, user_id: Id) -> Record | None:
        return await db.fetchrow(self._q.member, group_id, user_id)

    async def members(self, db: Executor, group_id: Id, accepted_only: bool) -> list[Record]:
        return await db.fetch(self._q.members, group_id, accepted_only)

    async def members_of_groups(self, db: Executor, group_ids: list[UUID]) -> list[Record]:
        return await db.fetch(self._q.members_of_groups, group_ids)

    async def accepted_member_ids(self, db: Executor, group_id: Id) -> list[str]:
        return [str(r["user_id"]) for r in await db.fetch(self._q.accepted_member_ids, group_id)]

    async def audience_ids(self, db: Executor, group_id: Id) -> list[str]:
        return [str(r["user_id"]) for r in await db.fetch(self._q.audience_ids, group_id)]

    async def count_members(self, db: Executor, group_id: Id) -> int:
        return int(await db.fetchval(self._q.count_members, group_id))

    async def count_accepted(self, db: Executor, group_id: Id) -> int:
        return int(await db.fetchval(self._q.count_accepted, group_id))

    async def count_other_owners(self, db: Executor, group_id: Id, user_id: Id) -> int:
        return int(await db.fetchval(self._q.count_other_owners, group_id, user_id))

    async def oldest_other_owner(self, db: Executor, group_id: Id, user_id: Id) -> UUID | None:
        return await db.fetchval(self._q.oldest_other_owner, group_id, user_id)

    async def next_owner_candidate(self, db: Executor, group_id: Id, user_id: Id) -> UUID | None:
        return await db.fetchval(self._q.next_owner_candidate, group_id, user_id)

    async def system_sender(self, db: Executor, group_id: Id) -> UUID | None:
        return await db.fetchval(self._q.system_sender, group_id)

    async def insert_member(
        self, db: Executor, group_id: Id, user_id: Id, role: str, status: str, invited_by: Id | None
    ) -> UUID | None:
        """The new membership's id, or ``None`` when the user already had one."""
        return await db.fetchval(self._q.insert_member, group_id, user_id, role, status, invited_by)

    async def insert_invites(
        self, db: Executor, group_id: Id, user_ids: list[UUID], invited_by: Id
    ) -> None:
        await db.execute(self._q.insert_invites, group_id, user_ids, invited_by)

    async def set_member_status(self, db: Executor, group_id: Id, user_id: Id, status: str) -> None:
        await db.execute(self._q.set_member_status, group_id, user_id, status)

    async def set_member_role(self, db: Executor, group_id: Id, user_id: Id, role: str) -> None:
        await db.execute(self._q.set_member_role, group_id, user_id, role)

    async def set_invited_by(self, db: Executor, group_id: Id, user_id: Id, inviter: Id) -> None:
        await db.execute(self._q.set_invited_by, group_id, user_id, inviter)

    async def delete_member(self, db: Executor, group_id: Id, user_id: Id) -> None:
        await db.execute(self._q.delete_member, group_id, user_id)

    # --- users ----------------------------------------------------------------------------

    async def existing_user_ids(self, db: Executor, user_ids: list[UUID]) -> set[UUID]:
        return {r["id"] for r in await db.fetch(self._q.existing_user_ids, user_ids)}

    async def user_brief(self, db: Executor, user_id: Id) -> Record | None:
        """``id, username, display_name, profile_image`` of a user."""
        return await db.fetchrow(self._q.user_brief, user_id)

    # --- messages -------------------------------------------------------------------------

    async def insert_message(
        self, db: Executor, group_id: Id, sender_id: Id, **fields: Any
    ) -> Record:
        """Insert a message; ``fields`` are content, type and the optional file/audio columns."""
        row = await db.fetchrow(
            self._q.insert_message,
            group_id,
            sender_id,
            fields["content"],
            fields.get("type", "text"),
            fields.get("file_url"),
            fields.get("file_name"),
            fields.get("file_size"),
            fields.get("file_type"),
            fields.get("audio_waveform"),
            fields.get("audio_duration"),
            fields.get("link_preview"),
            fields.get("temp_id"),
        )
        assert row is not None
        return row

    async def message_by_id(self, db: Executor, message_id: Id) -> Record | None:
        return await db.fetchrow(self._q.message_by_id, message_id)

    async def history(
        self, db: Executor, group_id: Id, before: Any | None, limit: int
    ) -> list[Record]:
        return await db.fetch(self._q.history, group_id, before, limit)

    async def update_waveform(
        self, db: Executor, message_id: Id, waveform: list[float], duration: float | None
    ) -> Record | None:
        return await db.fetchrow(self._q.update_waveform, message_id, waveform, duration)

    async def fill_duration(self, db: Executor, message_id: Id, duration: float) -> None:
        await db.execute(self._q.fill_duration, message_id, duration)
