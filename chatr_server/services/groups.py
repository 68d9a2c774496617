"""Groups: creation, membership, history and system messages (rest.md §7).

Role changes (promote, demote, ownership) are :mod:`.group_roles`; the rules
both share (who is an admin, the group-row lock) are :mod:`.group_access`.

Every mutation runs in one transaction that first locks the group row, so
concurrent leaves/promotions of one group cannot interleave. Socket events are
collected while the transaction runs and sent only after it commits, so no
client hears about a change that was rolled back.

Security fixes over the original (behaviors.md §16, SEC-11):

* ``join`` records a *join request*: a pending membership without an inviter.
  It can never be accepted by the requester (``accept`` answers "Invite not
  found"), it grants no access to the group's details, is not listed as an
  invite and receives no group events. An admin approves it by inviting the
  user (``POST /members``), which turns it into an ordinary invite.
* The waveform PATCH requires the message to belong to the group and the
  caller to be its sender.
* ``leave`` by a non-member changes nothing and emits nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any
from uuid import UUID

import asyncpg
from asyncpg import Record

from chatr_server.errors import bad_request, conflict, forbidden, not_found
from chatr_server.integrations.storage import Storage
from chatr_server.presenters import groups as present
from chatr_server.repos.groups import GroupsRepo
from chatr_server.repos.types import Executor
from chatr_server.services.attachments import Attachments
from chatr_server.services.bus import EventBus
from chatr_server.services.group_access import (
    group_uuid,
    hand_over_owner_id,
    id_field,
    is_admin,
    is_join_request,
    is_owner,
    lock_group,
)
from chatr_server.services.upload_policy import duration_seconds, waveform_bars
from chatr_server.util.ids import parse_uuid
from chatr_server.util.timefmt import parse_iso

log = logging.getLogger(__name__)

MAX_GROUP_MEMBERS = 1000
MAX_WAVEFORM_BARS = 1000
HISTORY_DEFAULT = 50
HISTORY_MAX = 100


class Emits:
    """Socket events queued during a transaction, sent once it has committed."""

    def __init__(self) -> None:
        self._items: list[tuple[list[str], str, Any]] = []
        self._leaves: list[tuple[str, list[str] | None]] = []

    def add(self, user_ids: Iterable[str], event: str, payload: Any) -> None:
        ids = list(dict.fromkeys(str(u) for u in user_ids))
        if ids:
            self._items.append((ids, event, payload))

    def leave_room(self, group_id: UUID, user_ids: Iterable[str] | None = None) -> None:
        """SEC-22: these users (everyone when ``None``) lose the group's legacy room."""
        self._leaves.append((str(group_id), None if user_ids is None else list(user_ids)))

    def send(self, bus: EventBus) -> None:
        # Room changes first: nothing sent to the room afterwards reaches those sockets.
        for group_id, user_ids in self._leaves:
            bus.leave_group_room(group_id, user_ids)
        for ids, event, payload in self._items:
            bus.to_users(ids, event, payload)


def parse_waveform(value: object) -> list[float] | None:
    """A list of finite numbers (at most ``MAX_WAVEFORM_BARS``), else ``None``."""
    return waveform_bars(value, MAX_WAVEFORM_BARS)


def parse_duration(value: object) -> float | None:
    """A plausible duration in seconds (zero allowed), else ``None``."""
    return duration_seconds(value, allow_zero=True)


def _history_limit(value: object) -> int:
    if isinstance(value, bool):
        return HISTORY_DEFAULT
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    else:
        return HISTORY_DEFAULT
    return max(1, min(HISTORY_MAX, number))


class GroupService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        repo: GroupsRepo,
        storage: Storage,
        bus: EventBus,
        links: Attachments,
    ) -> None:
        self._pool = pool
        self._repo = repo
        self._storage = storage
        #: Signs the attachment URLs of the messages members are shown.
        self.links = links
        self._bus = bus

    # --- helpers shared with the socket layer ----------------------------------------------

    async def require_accepted_member(
        self,
        db: Executor,
        user_id: str,
        group_id: object,
        *,
        not_member: str = "Not a member of this group",
        pending: str = "Accept the group invite first",
    ) -> Record:
        """The caller's accepted membership row; 403 ``not_member`` / ``pending`` otherwise."""
        gid = group_uuid(group_id)
        member = await self._repo.member(db, gid, user_id)
        if member is None:
            raise forbidden(not_member)
        if member["status"] != "accepted":
            raise forbidden(pending)
        return member

    async def accepted_member_ids(self, group_id: object) -> list[str]:
        """User ids of the group's accepted members ([] for an unknown or malformed id)."""
        gid = parse_uuid(group_id)
        if gid is None:
            return []
        return await self._repo.accepted_member_ids(self._pool, gid)

    async def add_system_message(
        self, conn: Executor, group_id: UUID, text: str, emits: Emits
    ) -> dict[str, Any] | None:
        """Store a system message in the caller's transaction and queue its broadcast."""
        sender = await self._repo.system_sender(conn, group_id)
        if sender is None:
            return None
        row = await self._repo.insert_message(conn, group_id, sender, content=text, type="system")
        payload = present.system_message(row)
        emits.add(await self._repo.accepted_member_ids(conn, group_id), "group:message", payload)
        return payload

    async def delete_files(self, urls: Iterable[str | None]) -> None:
        """Remove our stored files behind ``urls`` (foreign URLs are skipped)."""
        for url in urls:
            if not url:
                continue
            key = self._storage.key_from_url(url)
            if key is None:
                continue
            try:
                await self._storage.delete(key)
            except Exception:  # best effort: a missing or stuck file must not fail the request
                log.warning("could not delete stored file %s", key, exc_info=True)

    # --- create / read ---------------------------------------------------------------------

    async def create(self, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` as loaded by the create schema (trimmed name, description, memberIds)."""
        name: str = body["name"]
        description: str | None = body.get("description")
        invitees: list[UUID] = []
        for raw in body["memberIds"]:
            parsed = parse_uuid(raw)
            if parsed is None:
                raise not_found("User not found")
            if str(parsed) != user_id and parsed not in invitees:
                invitees.append(parsed)

        emits = Emits()
        async with self._pool.acquire() as conn, conn.transaction():
            creator = await self._repo.user_brief(conn, user_id)
            if creator is None:
                raise not_found("User not found")
            if invitees:
                found = await self._repo.existing_user_ids(conn, invitees)
                if len(found) != len(invitees):
                    raise not_found("User not found")
            group = await self._repo.insert_group(conn, name, description, user_id)
            await self._repo.insert_member(conn, group["id"], user_id, "owner", "accepted", None)
            if invitees:
                await self._repo.insert_invites(conn, group["id"], invitees, user_id)
            accepted = await self._repo.members(conn, group["id"], True)
        result = {"group": present.group_with_members(group, accepted)}
        emits.add([user_id], "group:created", result)
        emits.add(
            [str(i) for i in invitees],
            "group:invite",
            {
                "groupId": str(group["id"]),
                "groupName": group["name"],
                "memberCount": len(accepted),
                "invitedBy": present.user_name(creator["display_name"], creator["username"]),
            },
        )
        emits.send(self._bus)
        return result

    async def list_for(self, user_id: str) -> dict[str, Any]:
        """``GET /api/groups``: accepted groups with all members and the last message."""
        async with self._pool.acquire() as conn:
            groups = await self._repo.groups_for_user(conn, user_id)
            ids = [g["id"] for g in groups]
            members = await self._repo.members_of_groups(conn, ids) if ids else []
            lasts = await self._repo.last_messages(conn, ids) if ids else []
        by_group: dict[UUID, list[Record]] = {}
        for member in members:
            by_group.setdefault(member["group_id"], []).append(member)
        last_by_group = {
            row["group_id"]: self.links.sign(present.last_message(row)) for row in lasts
        }
        items = []
        for group in groups:
            last = last_by_group.get(group["id"])
            items.append(
                {
                    **present.group_with_members(group, by_group.get(group["id"], [])),
                    "messages": [last] if last else [],
                    "lastMessage": last,
                    "summary": group["summary"],
                }
            )
        return {"groups": items}

    async def invites(self, user_id: str) -> dict[str, Any]:
        rows = await self._repo.invites_for_user(self._pool, user_id)
        return {"invites": [present.invite(r) for r in rows]}

    async def detail(self, user_id: str, group_id: object) -> dict[str, Any]:
        gid = group_uuid(group_id)
        async with self._pool.acquire() as conn:
            group = await self._repo.group_by_id(conn, gid)
            if group is None:
                raise not_found("Group not found")
            me = await self._repo.member(conn, gid, user_id)
            if me is None or is_join_request(me):
                raise forbidden("Not a member of this group")
            members = await self._repo.members(conn, gid, False)
        return {"group": present.group_with_members(group, members), "memberStatus": me["status"]}

    async def history(
        self, user_id: str, group_id: object, limit: object = None, before_iso: object = None
    ) -> list[dict[str, Any]]:
        """The newest ``limit`` messages older than ``before_iso``, oldest first.

        The original returned the *oldest* page; the contract recommends this.
        """
        gid = group_uuid(group_id)
        before = None
        if before_iso is not None and before_iso != "":
            if not isinstance(before_iso, str) or len(before_iso) > 64:
                raise bad_request("before must be an ISO timestamp")
            before = parse_iso(before_iso.strip())
            if before is None:
                raise bad_request("before must be an ISO timestamp")
        async with self._pool.acquire() as conn:
            await self.require_accepted_member(
                conn,
                user_id,
                gid,
                not_member="Not a member",
                pending="Accept the group invite to view messages",
            )
            rows = await self._repo.history(conn, gid, before, _history_limit(limit))
        return [self.links.sign(present.history_message(r)) for r in rows]

    # --- invitations -----------------------------------------------------------------------

    async def accept(self, user_id: str, group_id: object) -> dict[str, Any]:
        gid = group_uuid(group_id)
        emits = Emits()
        async with self._pool.acquire() as conn, conn.transaction():
            group = await self._repo.lock_group(conn, gid)
            me = await self._repo.member(conn, gid, user_id) if group else None
            if me is None or is_join_request(me):
                raise not_found("Invite not found")
            if me["status"] == "accepted":
                raise bad_request("Already a member")
            assert group is not None
            await self._repo.set_member_status(conn, gid, user_id, "accepted")
            me = await self._repo.member(conn, gid, user_id)
            assert me is not None
            accepted = await self._repo.members(conn, gid, True)
            name = present.user_name(me["display_name"], me["username"])
            await self.add_system_message(conn, gid, f"{name} joined the group", emits)
        result = {"group": present.group_with_members(group, accepted)}
        others = [str(m["user_id"]) for m in accepted if str(m["user_id"]) != user_id]
        first = Emits()
        first.add([user_id], "group:created", result)
        first.add(
            others,
            "group:memberJoined",
            {"groupId": str(gid), "userId": user_id, "member": present.joined_member(me)},
        )
        if me["invited_by"] is not None:
            first.add(
                [str(me["invited_by"])],
                "group:inviteAccepted",
                {"groupId": str(gid), "groupName": group["name"], "acceptedBy": name},
            )
        bus = self._bus
        first.send(bus)
        emits.send(bus)
        return result

    async def decline(self, user_id: str, group_id: object) -> dict[str, Any]:
        gid = group_uuid(group_id)
        emits = Emits()
        async with self._pool.acquire() as conn, conn.transaction():
            group = await self._repo.lock_group(conn, gid)
            me = await self._repo.member(conn, gid, user_id) if group else None
            if me is None:
                raise not_found("Invite not found")
            if me["status"] == "accepted":
                raise bad_request("Already a member — use leave instead")
            assert group is not None
            await self._repo.delete_member(conn, gid, user_id)
            if me["invited_by"] is not None:
                emits.add(
                    [str(me["invited_by"])],
                    "group:inviteDeclined",
                    {
                        "groupId": str(gid),
                        "groupName": group["name"],
                        "declinedBy": present.user_name(me["display_name"], me["username"]),
                    },
                )
        emits.send(self._bus)
        return {"success": True}

    async def add_member(
        self, user_id: str, group_id: object, body: dict[str, Any]
    ) -> dict[str, Any]:
        gid = group_uuid(group_id)
        target = id_field(body, "memberId", "memberId is required", "User not found")
        emits = Emits()
        async with self._pool.acquire() as conn, conn.transaction():
            group = await lock_group(self._repo, conn, gid)
            me = await self._repo.member(conn, gid, user_id)
            if not is_admin(me):
                raise forbidden("Only admins can add members")
            assert me is not None
            if await self._repo.user_brief(conn, target) is None:
                raise not_found("User not found")
            existing = await self._repo.member(conn, gid, target)
            if existing is not None and not is_join_request(existing):
                raise conflict("User is already a member")
            if existing is not None:
                # Approving a join request: it becomes an ordinary invite from the caller.
                await self._repo.set_invited_by(conn, gid, target, user_id)
            else:
                if await self._repo.count_members(conn, gid) >= MAX_GROUP_MEMBERS:
                    raise bad_request("Group is full")
                await self._repo.insert_member(conn, gid, target, "member", "pending", user_id)
            accepted = await self._repo.members(conn, gid, True)
        emits.add(
            [str(target)],
            "group:invite",
            {
                "groupId": str(gid),
                "groupName": group["name"],
                "memberCount": len(accepted),
                "invitedBy": present.user_name(me["display_name"], me["username"]),
            },
        )
        emits.send(self._bus)
        return {"group": present.group_with_members(group, accepted)}

    # --- membership changes ----------------------------------------------------------------

    async def remove_member(self, user_id: str, group_id: object, member_id: str) -> dict[str, Any]:
        gid = group_uuid(group_id)
        target_id = parse_uuid(member_id)
        emits = Emits()
        async with self._pool.acquire() as conn, conn.transaction():
            group = await lock_group(self._repo, conn, gid)
            target = await self._repo.member(conn, gid, target_id) if target_id else None
            if target is None:
                raise not_found("Member not found in group")
            tid = str(target["user_id"])
            self_removal = tid == user_id
            if not self_removal:
                me = await self._repo.member(conn, gid, user_id)
                if not is_admin(me):
                    raise forbidden("Only admins and owners can remove members")
                assert me is not None
                if target["role"] == "owner":
                    raise forbidden("Cannot remove an owner")
                if target["role"] == "admin" and me["role"] != "owner":
                    raise forbidden("Only owners can remove admins")
            await self._repo.delete_member(conn, gid, tid)
            emits.leave_room(gid, [tid])
            await hand_over_owner_id(self._repo, conn, group, tid)
            remaining = await self._repo.accepted_member_ids(conn, gid)
            emits.add([tid], "group:removed", {"groupId": str(gid)})
            emits.add(remaining, "group:memberLeft", {"groupId": str(gid), "memberId": tid})
            if target["status"] == "accepted":
                name = present.user_name(target["display_name"], target["username"])
                verb = "left the group" if self_removal else "was removed from the group"
                text = f"{name} {verb}"
                await self.add_system_message(conn, gid, text, emits)
        emits.send(self._bus)
        return {"success": True}

    async def join(self, user_id: str, group_id: object) -> dict[str, Any]:
        """Ask to join: a pending membership without inviter (see module docstring)."""
        gid = group_uuid(group_id)
        emits = Emits()
        async with self._pool.acquire() as conn, conn.transaction():
            await lock_group(self._repo, conn, gid)
            if await self._repo.member(conn, gid, user_id) is None:
                if await self._repo.count_members(conn, gid) >= MAX_GROUP_MEMBERS:
                    raise bad_request("Group is full")
                await self._repo.insert_member(conn, gid, user_id, "member", "pending", None)
                me = await self._repo.member(conn, gid, user_id)
                if me is None:  # the user row vanished (account deleted meanwhile)
                    raise not_found("User not found")
                audience = [*await self._repo.audience_ids(conn, gid), user_id]
                emits.add(
                    audience,
                    "group:memberJoined",
                    {"groupId": str(gid), "userId": user_id, "member": present.joined_member(me)},
                )
        emits.send(self._bus)
        return {"success": True}

    async def leave(self, user_id: str, group_id: object) -> dict[str, Any]:
        gid = group_uuid(group_id)
        emits = Emits()
        deleted_urls: list[str | None] = []
        async with self._pool.acquire() as conn, conn.transaction():
            group = await lock_group(self._repo, conn, gid)
            me = await self._repo.member(conn, gid, user_id)
            if me is None:
                return {"success": True, "deleted": False}
            others = await self._repo.count_members(conn, gid) - 1
            successor = None
            dissolve = others == 0
            if (
                not dissolve
                and me["role"] == "owner"
                and not await self._repo.count_other_owners(conn, gid, user_id)
            ):
                successor = await self._repo.next_owner_candidate(conn, gid, user_id)
                # Only pending invitees remain: nobody could ever run the group.
                dissolve = successor is None
            if dissolve:
                # Nobody left who could run the group: delete it.
                audience = [*await self._repo.audience_ids(conn, gid), user_id]
                deleted_urls = await self._group_files(conn, group)
                await self._repo.delete_group(conn, gid)
                emits.leave_room(gid)
                emits.add(
                    audience, "group:deleted", {"groupId": str(gid), "groupName": group["name"]}
                )
                result = {"success": True, "deleted": True}
            else:
                if successor is not None:
                    await self._repo.set_member_role(conn, gid, successor, "owner")
                    await self._repo.set_owner_id(conn, gid, successor)
                    emits.add(
                        [*await self._repo.audience_ids(conn, gid), user_id],
                        "group:ownerChanged",
                        {"groupId": str(gid), "newOwnerId": str(successor)},
                    )
                else:
                    await hand_over_owner_id(self._repo, conn, group, user_id)
                await self._repo.delete_member(conn, gid, user_id)
                emits.leave_room(gid, [user_id])
                remaining = await self._repo.accepted_member_ids(conn, gid)
                emits.add([user_id], "group:removed", {"groupId": str(gid)})
                emits.add(remaining, "group:memberLeft", {"groupId": str(gid), "memberId": user_id})
                if me["status"] == "accepted":
                    name = present.user_name(me["display_name"], me["username"])
                    await self.add_system_message(conn, gid, f"{name} left the group", emits)
                result = {"success": True, "deleted": False}
        emits.send(self._bus)
        await self.delete_files(deleted_urls)
        return result

    async def _group_files(self, conn: Executor, group: Record) -> list[str | None]:
        """Every stored file of a group: message attachments and image variants."""
        urls: list[str | None] = list(await self._repo.message_file_urls(conn, group["id"]))
        for url in (group["profile_image"], group["cover_image"]):
            urls.extend(image_variant_urls(url))
        return urls

    async def delete(self, user_id: str, group_id: object) -> dict[str, Any]:
        gid = group_uuid(group_id)
        emits = Emits()
        async with self._pool.acquire() as conn, conn.transaction():
            group = await lock_group(self._repo, conn, gid)
            me = await self._repo.member(conn, gid, user_id)
            if not is_owner(me):
                raise forbidden("Only owners can delete the group")
            audience = await self._repo.audience_ids(conn, gid)
            urls = await self._group_files(conn, group)
            await self._repo.delete_group(conn, gid)
        emits.leave_room(gid)
        emits.add(audience, "group:deleted", {"groupId": str(gid), "groupName": group["name"]})
        emits.send(self._bus)
        await self.delete_files(urls)
        return {"success": True}

    async def update(self, user_id: str, group_id: object, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` as loaded by the update schema (absent keys stay unchanged)."""
        gid = group_uuid(group_id)
        name = body.get("name")
        has_description = "description" in body
        description = body.get("description")
        async with self._pool.acquire() as conn, conn.transaction():
            me = await self._repo.member(conn, gid, user_id)
            if not is_admin(me):
                raise forbidden("Only admins can edit the group")
            group = await self._repo.update_group(conn, gid, name, has_description, description)
            if group is None:
                raise not_found("Group not found")
            members = await self._repo.members(conn, gid, False)
            audience = await self._repo.audience_ids(conn, gid)
        result = {"group": present.group_with_members(group, members)}
        self._bus.to_users(audience, "group:updated", result)
        return result

    # --- audio -----------------------------------------------------------------------------

    async def update_waveform(
        self, user_id: str, group_id: object, message_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Store a client-computed waveform; only the sender, only for this group's message."""
        waveform = parse_waveform(body.get("waveform"))
        if waveform is None:
            raise bad_request("waveform array required")
        raw_duration = body.get("duration")
        duration = parse_duration(raw_duration)
        if raw_duration is not None and duration is None:
            raise bad_request("duration must be a number of seconds")
        gid = group_uuid(group_id)
        mid = parse_uuid(message_id)
        async with self._pool.acquire() as conn, conn.transaction():
            if await self._repo.member(conn, gid, user_id) is None:
                raise forbidden("Not a member")
            message = await self._repo.message_by_id(conn, mid) if mid else None
            if message is None or message["group_id"] != gid:
                raise not_found("Message not found")
            if str(message["sender_id"]) != user_id:
                raise forbidden("Access denied")
            stored = await self._repo.update_waveform(conn, mid, waveform, duration)
            recipients = await self._repo.accepted_member_ids(conn, gid)
        assert stored is not None
        self._bus.to_users(
            recipients,
            "audio:waveform",
            {
                "messageId": str(mid),
                "waveform": stored["audio_waveform"],
                "duration": stored["audio_duration"],
            },
        )
        return {"success": True}


def image_variant_urls(url: str | None) -> list[str]:
    """A stored image URL and its ``-md``/``-sm`` siblings (the client derives them by suffix)."""
    if not url:
        return []
    if not url.endswith(".jpg"):
        return [url]
    stem = url[: -len(".jpg")]
    return [url, f"{stem}-md.jpg", f"{stem}-sm.jpg"]
