"""Who may do what in a group, and the group-row lock: rules shared by
membership (:mod:`.groups`) and role changes (:mod:`.group_roles`).

Every mutation of a group runs in one transaction that first locks the group
row (:func:`lock_group`), so concurrent leaves and role changes of one group
cannot interleave.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from asyncpg import Record

from chatr_server.errors import bad_request, not_found
from chatr_server.repos.groups import GroupsRepo
from chatr_server.repos.types import Executor
from chatr_server.util.ids import parse_uuid

ADMIN_ROLES = ("owner", "admin")


def group_uuid(value: object) -> UUID:
    """A group id from the client; anything that is not a UUID is an unknown group."""
    parsed = parse_uuid(value)
    if parsed is None:
        raise not_found("Group not found")
    return parsed


def id_field(body: dict[str, Any], key: str, missing: str, unknown: str) -> UUID:
    """A user id named by ``key`` of a JSON body: 400 ``missing``, or 404 ``unknown``."""
    value = body.get(key)
    if value is None or value == "":
        raise bad_request(missing)
    if not isinstance(value, str):
        raise bad_request(f"{key} must be a string")
    parsed = parse_uuid(value.strip())
    if parsed is None:
        raise not_found(unknown)
    return parsed


def is_join_request(member: Record) -> bool:
    """A pending membership nobody invited: the user asked to join (see :mod:`.groups`)."""
    return member["status"] == "pending" and member["invited_by"] is None


def is_admin(member: Record | None) -> bool:
    return member is not None and member["status"] == "accepted" and member["role"] in ADMIN_ROLES


def is_owner(member: Record | None) -> bool:
    return member is not None and member["status"] == "accepted" and member["role"] == "owner"


async def lock_group(repo: GroupsRepo, conn: Executor, gid: UUID) -> Record:
    """The group row, locked for the caller's transaction; 404 when there is none."""
    group = await repo.lock_group(conn, gid)
    if group is None:
        raise not_found("Group not found")
    return group


async def hand_over_owner_id(repo: GroupsRepo, conn: Executor, group: Record, leaving: str) -> None:
    """Keep ``Group.ownerId`` on a remaining owner when the user it names stops owning.

    ``ownerId`` cascades on user deletion, so leaving it on a departed user
    would delete the group with that user's account later.
    """
    if str(group["owner_id"]) != leaving:
        return
    other = await repo.oldest_other_owner(conn, group["id"], leaving)
    if other is not None:
        await repo.set_owner_id(conn, group["id"], other)
