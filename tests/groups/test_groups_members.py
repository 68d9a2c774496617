"""Members, roles, join and leave (rest.md §7, behaviors.md §9) and the SEC-11 fixes."""

from __future__ import annotations

import uuid

from chatr_server.appkeys import SERVICES
from tests.groups.helpers import group_with, set_role, users


async def _roles(client, gid: str) -> dict[str, tuple[str, str]]:
    rows = await client.app[SERVICES].pool.fetch(
        "SELECT user_id, role, status FROM group_members WHERE group_id = $1", gid
    )
    return {str(r["user_id"]): (r["role"], r["status"]) for r in rows}


async def _owner_id(client, gid: str) -> str | None:
    value = await client.app[SERVICES].pool.fetchval(
        "SELECT owner_id FROM groups WHERE id = $1", gid
    )
    return str(value) if value else None


# --- add member --------------------------------------------------------------------------


async def test_add_member(client, bus):
    owner, admin, target = await users(client, 3)
    gid = await group_with(client, owner, accepted=[admin])
    await set_role(client, gid, admin, "admin")
    bus.clear()
    resp = await client.post(
        f"/api/groups/{gid}/members", headers=admin.auth, json={"memberId": target.id}
    )
    assert resp.status == 200
    body = await resp.json()
    assert {m["userId"] for m in body["group"]["members"]} == {owner.id, admin.id}
    assert bus.events("group:invite") == [
        (
            target.id,
            {"groupId": gid, "groupName": "Team", "memberCount": 2, "invitedBy": "Test User"},
        )
    ]
    assert (await _roles(client, gid))[target.id] == ("member", "pending")
    resp = await client.post(
        f"/api/groups/{gid}/members", headers=owner.auth, json={"memberId": target.id}
    )
    assert (resp.status, await resp.json()) == (409, {"error": "User is already a member"})


async def test_add_member_errors(client):
    owner, member, pending, stranger, target = await users(client, 5)
    gid = await group_with(client, owner, accepted=[member], pending=[pending])
    for user in (member, pending, stranger):
        resp = await client.post(
            f"/api/groups/{gid}/members", headers=user.auth, json={"memberId": target.id}
        )
        assert (resp.status, await resp.json()) == (403, {"error": "Only admins can add members"})
    cases = [
        (gid, {}, 400, "memberId is required"),
        (gid, {"memberId": 12}, 400, "memberId must be a string"),
        (gid, {"memberId": "zzz"}, 404, "User not found"),
        (gid, {"memberId": str(uuid.uuid4())}, 404, "User not found"),
        (str(uuid.uuid4()), {"memberId": target.id}, 404, "Group not found"),
        ("bad", {"memberId": target.id}, 404, "Group not found"),
        (gid, {"memberId": owner.id}, 409, "User is already a member"),
    ]
    for group_id, body, status, error in cases:
        resp = await client.post(f"/api/groups/{group_id}/members", headers=owner.auth, json=body)
        assert (resp.status, await resp.json()) == (status, {"error": error}), body


# --- remove member -----------------------------------------------------------------------


async def test_remove_member_by_admin(client, bus):
    owner, admin, member, other = await users(client, 4)
    gid = await group_with(client, owner, accepted=[admin, member, other])
    await set_role(client, gid, admin, "admin")
    bus.clear()
    resp = await client.delete(f"/api/groups/{gid}/members/{member.id}", headers=admin.auth)
    assert (resp.status, await resp.json()) == (200, {"success": True})
    assert bus.events("group:removed") == [(member.id, {"groupId": gid})]
    assert bus.recipients("group:memberLeft") == {owner.id, admin.id, other.id}
    assert bus.events("group:memberLeft")[0][1] == {"groupId": gid, "memberId": member.id}
    system = bus.events("group:message")
    assert {u for u, _ in system} == {owner.id, admin.id, other.id}
    assert system[0][1]["content"] == "Test User was removed from the group"
    assert member.id not in await _roles(client, gid)


async def test_remove_member_permissions(client):
    owner, owner2, admin, admin2, member, member2 = await users(client, 6)
    gid = await group_with(client, owner, accepted=[owner2, admin, admin2, member, member2])
    await set_role(client, gid, owner2, "owner")
    await set_role(client, gid, admin, "admin")
    await set_role(client, gid, admin2, "admin")
    cases = [
        (member, member2, 403, "Only admins and owners can remove members"),
        (admin, owner2, 403, "Cannot remove an owner"),
        (owner, owner2, 403, "Cannot remove an owner"),
        (admin, admin2, 403, "Only owners can remove admins"),
        (owner, "junk", 404, "Member not found in group"),
        (owner, str(uuid.uuid4()), 404, "Member not found in group"),
    ]
    for caller, target, status, error in cases:
        target_id = target if isinstance(target, str) else target.id
        resp = await client.delete(f"/api/groups/{gid}/members/{target_id}", headers=caller.auth)
        assert (resp.status, await resp.json()) == (status, {"error": error})
    resp = await client.delete(
        f"/api/groups/{uuid.uuid4()}/members/{member.id}", headers=owner.auth
    )
    assert (resp.status, await resp.json()) == (404, {"error": "Group not found"})
    # Owner removes an admin; a member removes themself.
    resp = await client.delete(f"/api/groups/{gid}/members/{admin2.id}", headers=owner.auth)
    assert resp.status == 200
    resp = await client.delete(f"/api/groups/{gid}/members/{member2.id}", headers=member2.auth)
    assert resp.status == 200


async def test_remove_self_and_pending_invite(client, bus):
    owner, member, pending = await users(client, 3)
    gid = await group_with(client, owner, accepted=[member], pending=[pending])
    bus.clear()
    await client.delete(f"/api/groups/{gid}/members/{member.id}", headers=member.auth)
    assert bus.events("group:message")[0][1]["content"] == "Test User left the group"
    bus.clear()
    # Revoking a pending invite posts no system message.
    resp = await client.delete(f"/api/groups/{gid}/members/{pending.id}", headers=owner.auth)
    assert resp.status == 200
    assert bus.events("group:removed") == [(pending.id, {"groupId": gid})]
    assert bus.events("group:message") == []


# --- join (SEC-11) -----------------------------------------------------------------------


async def test_join_creates_request_that_cannot_be_self_accepted(client, bus):
    owner, member, joiner = await users(client, 3)
    gid = await group_with(client, owner, accepted=[member])
    bus.clear()
    resp = await client.post(f"/api/groups/{gid}/join", headers=joiner.auth)
    assert (resp.status, await resp.json()) == (200, {"success": True})
    assert (await _roles(client, gid))[joiner.id] == ("member", "pending")
    joined = bus.events("group:memberJoined")
    assert {u for u, _ in joined} == {owner.id, member.id, joiner.id}
    payload = joined[0][1]
    assert payload["userId"] == joiner.id and payload["member"]["role"] == "member"
    # The joiner cannot accept it, see the group, its history, or find it in invites.
    resp = await client.post(f"/api/groups/{gid}/accept", headers=joiner.auth)
    assert (resp.status, await resp.json()) == (404, {"error": "Invite not found"})
    resp = await client.get(f"/api/groups/{gid}", headers=joiner.auth)
    assert resp.status == 403
    resp = await client.get(f"/api/groups/{gid}/messages", headers=joiner.auth)
    assert resp.status == 403
    assert (await (await client.get("/api/groups/invites", headers=joiner.auth)).json()) == {
        "invites": []
    }
    # Join requests receive no group events.
    bus.clear()
    await client.patch(f"/api/groups/{gid}", headers=owner.auth, json={"name": "Renamed"})
    assert joiner.id not in bus.recipients("group:updated")
    # A second join changes nothing and announces nothing.
    bus.clear()
    resp = await client.post(f"/api/groups/{gid}/join", headers=joiner.auth)
    assert resp.status == 200
    assert bus.sent == []
    # An admin approves by inviting; then the joiner can accept.
    resp = await client.post(
        f"/api/groups/{gid}/members", headers=owner.auth, json={"memberId": joiner.id}
    )
    assert resp.status == 200
    assert bus.recipients("group:invite") == {joiner.id}
    resp = await client.post(f"/api/groups/{gid}/accept", headers=joiner.auth)
    assert resp.status == 200
    assert (await _roles(client, gid))[joiner.id] == ("member", "accepted")


async def test_join_request_can_be_withdrawn(client):
    owner, joiner = await users(client, 2)
    gid = await group_with(client, owner)
    await client.post(f"/api/groups/{gid}/join", headers=joiner.auth)
    resp = await client.post(f"/api/groups/{gid}/decline", headers=joiner.auth)
    assert resp.status == 200
    assert joiner.id not in await _roles(client, gid)


async def test_join_existing_member_keeps_membership(client):
    owner = (await users(client, 1))[0]
    gid = await group_with(client, owner)
    resp = await client.post(f"/api/groups/{gid}/join", headers=owner.auth)
    assert resp.status == 200
    assert (await _roles(client, gid))[owner.id] == ("owner", "accepted")


async def test_join_unknown_group(client):
    [user] = await users(client, 1)
    for gid in (str(uuid.uuid4()), "nope"):
        resp = await client.post(f"/api/groups/{gid}/join", headers=user.auth)
        assert (resp.status, await resp.json()) == (404, {"error": "Group not found"})


# --- leave -------------------------------------------------------------------------------


async def test_leave_plain_member(client, bus):
    owner, member, other = await users(client, 3)
    gid = await group_with(client, owner, accepted=[member, other])
    bus.clear()
    resp = await client.post(f"/api/groups/{gid}/leave", headers=member.auth)
    assert (resp.status, await resp.json()) == (200, {"success": True, "deleted": False})
    assert bus.events("group:removed") == [(member.id, {"groupId": gid})]
    assert bus.recipients("group:memberLeft") == {owner.id, other.id}
    assert bus.events("group:message")[0][1]["content"] == "Test User left the group"
    assert bus.events("group:ownerChanged") == []


async def test_leave_last_member_deletes_group(client, bus):
    [owner] = await users(client, 1)
    gid = await group_with(client, owner)
    bus.clear()
    resp = await client.post(f"/api/groups/{gid}/leave", headers=owner.auth)
    assert (resp.status, await resp.json()) == (200, {"success": True, "deleted": True})
    assert bus.sent == [(owner.id, "group:deleted", {"groupId": gid, "groupName": "Team"})]
    assert await _owner_id(client, gid) is None


async def test_leave_sole_owner_promotes_oldest_accepted_admin(client, bus):
    owner, early_member, admin, late_admin, pending = await users(client, 5)
    gid = await group_with(
        client, owner, accepted=[early_member, admin, late_admin], pending=[pending]
    )
    await set_role(client, gid, admin, "admin")
    await set_role(client, gid, late_admin, "admin")
    bus.clear()
    resp = await client.post(f"/api/groups/{gid}/leave", headers=owner.auth)
    assert (await resp.json()) == {"success": True, "deleted": False}
    roles = await _roles(client, gid)
    # Members invited in one call share joinedAt; the tie is broken by membership id,
    # so either admin may win, but never the plain member or the pending invitee.
    new_owner = next(uid for uid, (role, _) in roles.items() if role == "owner")
    assert new_owner in {admin.id, late_admin.id}
    assert await _owner_id(client, gid) == new_owner
    changed = bus.events("group:ownerChanged")
    assert {u for u, _ in changed} == {
        owner.id,
        early_member.id,
        admin.id,
        late_admin.id,
        pending.id,
    }
    assert changed[0][1] == {"groupId": gid, "newOwnerId": new_owner}
    # The system message is sent by the new owner.
    assert bus.events("group:message")[0][1]["senderId"] == new_owner


async def test_leave_sole_owner_promotes_member_not_pending(client):
    owner, pending, member = await users(client, 3)
    gid = await group_with(client, owner, pending=[pending])
    await client.post(
        f"/api/groups/{gid}/members", headers=owner.auth, json={"memberId": member.id}
    )
    await client.post(f"/api/groups/{gid}/accept", headers=member.auth)
    await client.post(f"/api/groups/{gid}/leave", headers=owner.auth)
    roles = await _roles(client, gid)
    assert roles[member.id] == ("owner", "accepted")
    assert roles[pending.id] == ("member", "pending")


async def test_leave_sole_owner_with_only_pending_invitees_deletes(client, bus):
    owner, pending = await users(client, 2)
    gid = await group_with(client, owner, pending=[pending])
    bus.clear()
    resp = await client.post(f"/api/groups/{gid}/leave", headers=owner.auth)
    assert (await resp.json()) == {"success": True, "deleted": True}
    assert bus.recipients("group:deleted") == {owner.id, pending.id}


async def test_leave_owner_with_co_owner_keeps_roles(client, bus):
    owner, co_owner, member = await users(client, 3)
    gid = await group_with(client, owner, accepted=[co_owner, member])
    await set_role(client, gid, co_owner, "owner")
    bus.clear()
    await client.post(f"/api/groups/{gid}/leave", headers=owner.auth)
    assert bus.events("group:ownerChanged") == []
    assert (await _roles(client, gid))[member.id] == ("member", "accepted")
    # ownerId follows the remaining owner (it cascades on user deletion).
    assert await _owner_id(client, gid) == co_owner.id


async def test_leave_by_non_member_emits_nothing(client, bus):
    owner, member, stranger = await users(client, 3)
    gid = await group_with(client, owner, accepted=[member])
    bus.clear()
    resp = await client.post(f"/api/groups/{gid}/leave", headers=stranger.auth)
    assert (resp.status, await resp.json()) == (200, {"success": True, "deleted": False})
    assert bus.sent == []
    messages = await client.app[SERVICES].pool.fetchval(
        "SELECT count(*) FROM group_messages WHERE group_id = $1 AND content LIKE '%left%'", gid
    )
    assert messages == 0


async def test_leave_unknown_group(client):
    [user] = await users(client, 1)
    for gid in (str(uuid.uuid4()), "x"):
        resp = await client.post(f"/api/groups/{gid}/leave", headers=user.auth)
        assert (resp.status, await resp.json()) == (404, {"error": "Group not found"})


async def test_pending_invitee_leaving_posts_no_system_message(client, bus):
    owner, member, pending = await users(client, 3)
    gid = await group_with(client, owner, accepted=[member], pending=[pending])
    bus.clear()
    await client.post(f"/api/groups/{gid}/leave", headers=pending.auth)
    assert bus.events("group:message") == []
    assert bus.events("group:removed") == [(pending.id, {"groupId": gid})]


# --- promote / demote --------------------------------------------------------------------


async def test_promote_and_demote(client, bus):
    owner, admin, member, pending = await users(client, 4)
    gid = await group_with(client, owner, accepted=[admin, member], pending=[pending])
    await set_role(client, gid, admin, "admin")
    bus.clear()
    resp = await client.patch(f"/api/groups/{gid}/members/{member.id}/promote", headers=admin.auth)
    assert (resp.status, await resp.json()) == (200, {"success": True})
    assert (await _roles(client, gid))[member.id] == ("admin", "accepted")
    assert bus.recipients("group:memberPromoted") == {owner.id, admin.id, member.id, pending.id}
    assert bus.events("group:memberPromoted")[0][1] == {
        "groupId": gid,
        "memberId": member.id,
        "promotedBy": admin.id,
    }
    bus.clear()
    resp = await client.patch(f"/api/groups/{gid}/members/{member.id}/demote", headers=owner.auth)
    assert resp.status == 200
    assert (await _roles(client, gid))[member.id] == ("member", "accepted")
    assert bus.events("group:memberDemoted")[0][1] == {
        "groupId": gid,
        "memberId": member.id,
        "demotedBy": owner.id,
    }
    # An admin may demote themself.
    resp = await client.patch(f"/api/groups/{gid}/members/{admin.id}/demote", headers=admin.auth)
    assert resp.status == 200
    assert (await _roles(client, gid))[admin.id] == ("member", "accepted")


async def test_promote_errors(client):
    owner, admin, member, pending, stranger = await users(client, 5)
    gid = await group_with(client, owner, accepted=[admin, member], pending=[pending])
    await set_role(client, gid, admin, "admin")
    url = f"/api/groups/{gid}/members/{{}}/promote"
    cases = [
        (member, member.id, 403, "Only admins can promote members"),
        (stranger, member.id, 403, "Only admins can promote members"),
        (pending, member.id, 403, "Only admins can promote members"),
        (admin, str(uuid.uuid4()), 404, "Member not found"),
        (admin, "junk", 404, "Member not found"),
        (admin, stranger.id, 404, "Member not found"),
        # SEC-11: an admin cannot "promote" (i.e. strip) an owner.
        (admin, owner.id, 400, "Cannot demote an owner. Use step-down instead."),
        (admin, pending.id, 400, "Only accepted members can be promoted"),
    ]
    for caller, target, status, error in cases:
        resp = await client.patch(url.format(target), headers=caller.auth)
        assert (resp.status, await resp.json()) == (status, {"error": error})
    assert (await _roles(client, gid))[owner.id] == ("owner", "accepted")
    resp = await client.patch(f"/api/groups/bad/members/{member.id}/promote", headers=owner.auth)
    assert (resp.status, await resp.json()) == (404, {"error": "Group not found"})


async def test_demote_errors(client):
    owner, admin, admin2, member = await users(client, 4)
    gid = await group_with(client, owner, accepted=[admin, admin2, member])
    await set_role(client, gid, admin, "admin")
    await set_role(client, gid, admin2, "admin")
    url = f"/api/groups/{gid}/members/{{}}/demote"
    cases = [
        (admin, admin2.id, 403, "Only owners can remove admin"),
        (member, admin.id, 403, "Only owners can remove admin"),
        (owner, str(uuid.uuid4()), 404, "Member not found"),
        (owner, owner.id, 400, "Cannot demote an owner. Use step-down instead."),
    ]
    for caller, target, status, error in cases:
        resp = await client.patch(url.format(target), headers=caller.auth)
        assert (resp.status, await resp.json()) == (status, {"error": error})


# --- transfer ownership / step down ------------------------------------------------------


async def test_transfer_ownership(client, bus):
    owner, admin, member = await users(client, 3)
    gid = await group_with(client, owner, accepted=[admin, member])
    await set_role(client, gid, admin, "admin")
    url = f"/api/groups/{gid}/transfer-ownership"
    cases = [
        (owner, {}, 400, "newOwnerId is required"),
        (owner, {"newOwnerId": 5}, 400, "newOwnerId must be a string"),
        (admin, {"newOwnerId": admin.id}, 403, "Only owners can promote to owner"),
        (member, {"newOwnerId": admin.id}, 403, "Only owners can promote to owner"),
        (owner, {"newOwnerId": str(uuid.uuid4())}, 404, "Member not found"),
        (owner, {"newOwnerId": "xx"}, 404, "Member not found"),
        (owner, {"newOwnerId": owner.id}, 400, "User is already an owner"),
        (owner, {"newOwnerId": member.id}, 400, "Only admins can be promoted to owner"),
    ]
    for caller, body, status, error in cases:
        resp = await client.post(url, headers=caller.auth, json=body)
        assert (resp.status, await resp.json()) == (status, {"error": error}), body
    bus.clear()
    resp = await client.post(url, headers=owner.auth, json={"newOwnerId": admin.id})
    assert (resp.status, await resp.json()) == (200, {"success": True})
    roles = await _roles(client, gid)
    assert roles[admin.id][0] == "owner" and roles[owner.id][0] == "owner"
    assert await _owner_id(client, gid) == owner.id
    assert bus.recipients("group:ownershipTransferred") == {owner.id, admin.id, member.id}
    assert bus.events("group:ownershipTransferred")[0][1] == {
        "groupId": gid,
        "newOwnerId": admin.id,
    }


async def test_step_down(client, bus):
    owner, co_owner, member = await users(client, 3)
    gid = await group_with(client, owner, accepted=[co_owner, member])
    url = f"/api/groups/{gid}/step-down"
    resp = await client.post(url, headers=owner.auth)
    assert (resp.status, await resp.json()) == (
        400,
        {"error": "You are the only owner. Promote another member to owner first."},
    )
    resp = await client.post(url, headers=member.auth)
    assert (resp.status, await resp.json()) == (403, {"error": "Only owners can step down"})
    await set_role(client, gid, co_owner, "owner")
    bus.clear()
    resp = await client.post(url, headers=owner.auth)
    assert (resp.status, await resp.json()) == (200, {"success": True})
    assert (await _roles(client, gid))[owner.id][0] == "admin"
    assert await _owner_id(client, gid) == co_owner.id
    assert bus.events("group:ownerSteppedDown")[0][1] == {"groupId": gid, "userId": owner.id}
    assert bus.recipients("group:ownerSteppedDown") == {owner.id, co_owner.id, member.id}
    resp = await client.post("/api/groups/bad/step-down", headers=owner.auth)
    assert resp.status == 404
