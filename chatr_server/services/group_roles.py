"""Group roles: promote, demote, transfer ownership, step down (rest.md §7).

Kept apart from membership (:mod:`.groups`): a role change never adds or
removes anyone, only moves a member between ``member``, ``admin`` and
``owner``. Each runs in one transaction that locks the group row first
(:func:`.group_access.lock_group`), and its event goes out once it has committed.

Security fixes over the original (behaviors.md §16, SEC-11): ``promote``
cannot target an owner; role changes need an accepted caller and an accepted
target.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from asyncpg import Record

from chatr_server.errors import bad_request, forbidden, not_found
from chatr_server.repos.groups import GroupsRepo
from chatr_server.repos.types import Executor
from chatr_server.services.bus import EventBus
from chatr_server.services.group_access import (
    group_uuid,
    hand_over_owner_id,
    id_field,
    is_admin,
    is_owner,
    lock_group,
)
from chatr_server.util.ids import parse_uuid


class GroupRoleService:
    def __init__(self, pool: asyncpg.Pool, repo: GroupsRepo, bus: EventBus) -> None:
        self._pool = pool
        self._repo = repo
        self._bus = bus

    async def _target(self, conn: Executor, gid: UUID, target_id: UUID | None) -> Record:
        """The membership row whose role changes; 404 when there is none."""
        member = await self._repo.member(conn, gid, target_id) if target_id else None
        if member is None:
            raise not_found("Member not found")
        return member

    async def promote(self, user_id: str, group_id: object, member_id: str) -> dict[str, Any]:
        gid = group_uuid(group_id)
        target_id = parse_uuid(member_id)
        async with self._pool.acquire() as conn, conn.transaction():
            await lock_group(self._repo, conn, gid)
            if not is_admin(await self._repo.member(conn, gid, user_id)):
                raise forbidden("Only admins can promote members")
            target = await self._target(conn, gid, target_id)
            if target["role"] == "owner":
                raise bad_request("Cannot demote an owner. Use step-down instead.")
            if target["status"] != "accepted":
                raise bad_request("Only accepted members can be promoted")
            tid = str(target["user_id"])
            await self._repo.set_member_role(conn, gid, tid, "admin")
            audience = await self._repo.audience_ids(conn, gid)
        self._bus.to_users(
            audience,
            "group:memberPromoted",
            {"groupId": str(gid), "memberId": tid, "promotedBy": user_id},
        )
        return {"success": True}

    async def demote(self, user_id: str, group_id: object, member_id: str) -> dict[str, Any]:
        gid = group_uuid(group_id)
        target_id = parse_uuid(member_id)
        async with self._pool.acquire() as conn, conn.transaction():
            await lock_group(self._repo, conn, gid)
            if str(target_id) != user_id and not is_owner(
                await self._repo.member(conn, gid, user_id)
            ):
                raise forbidden("Only owners can remove admin")
            target = await self._target(conn, gid, target_id)
            if target["role"] == "owner":
                raise bad_request("Cannot demote an owner. Use step-down instead.")
            tid = str(target["user_id"])
            await self._repo.set_member_role(conn, gid, tid, "member")
            audience = await self._repo.audience_ids(conn, gid)
        self._bus.to_users(
            audience,
            "group:memberDemoted",
            {"groupId": str(gid), "memberId": tid, "demotedBy": user_id},
        )
        return {"success": True}

    async def transfer_ownership(
        self, user_id: str, group_id: object, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Make an admin an owner too (the caller stays owner; ``ownerId`` is unchanged)."""
        gid = group_uuid(group_id)
        target_id = id_field(body, "newOwnerId", "newOwnerId is required", "Member not found")
        async with self._pool.acquire() as conn, conn.transaction():
            await lock_group(self._repo, conn, gid)
            if not is_owner(await self._repo.member(conn, gid, user_id)):
                raise forbidden("Only owners can promote to owner")
            target = await self._target(conn, gid, target_id)
            if target["role"] == "owner":
                raise bad_request("User is already an owner")
            if target["role"] != "admin" or target["status"] != "accepted":
                raise bad_request("Only admins can be promoted to owner")
            tid = str(target["user_id"])
            await self._repo.set_member_role(conn, gid, tid, "owner")
            audience = await self._repo.audience_ids(conn, gid)
        self._bus.to_users(
            audience, "group:ownershipTransferred", {"groupId": str(gid), "newOwnerId": tid}
        )
        return {"success": True}

    async def step_down(self, user_id: str, group_id: object) -> dict[str, Any]:
        """Owner → admin when another owner exists; ``ownerId`` moves to that owner."""
        gid = group_uuid(group_id)
        async with self._pool.acquire() as conn, conn.transaction():
            group = await lock_group(self._repo, conn, gid)
            if not is_owner(await self._repo.member(conn, gid, user_id)):
                raise forbidden("Only owners can step down")
            if not await self._repo.count_other_owners(conn, gid, user_id):
                raise bad_request("You are the only owner. Promote another member to owner first.")
            await self._repo.set_member_role(conn, gid, user_id, "admin")
            await hand_over_owner_id(self._repo, conn, group, user_id)
            audience = await self._repo.audience_ids(conn, gid)
        self._bus.to_users(
            audience, "group:ownerSteppedDown", {"groupId": str(gid), "userId": user_id}
        )
        return {"success": True}
