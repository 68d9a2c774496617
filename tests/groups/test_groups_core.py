"""Create, list, invites, accept/decline, detail, history, update and delete (rest.md §7)."""

from __future__ import annotations

import re
import uuid

from chatr_server.appkeys import SERVICES
from tests.groups.helpers import accept, create_group, group_with, users
from tests.helpers import make_user

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
GROUP_KEYS = {
    "id",
    "name",
    "description",
    "profileImage",
    "coverImage",
    "ownerId",
    "createdAt",
    "updatedAt",
    "summary",
    "summaryMessageCount",
    "summaryGeneratedAt",
    "members",
}
MEMBER_KEYS = {"id", "userId", "groupId", "role", "status", "invitedBy", "joinedAt", "user"}
MESSAGE_KEYS = {
    "id",
    "groupId",
    "senderId",
    "content",
    "type",
    "fileUrl",
    "fileName",
    "fileSize",
    "fileType",
    "audioWaveform",
    "audioDuration",
    "linkPreview",
    "deletedAt",
    "createdAt",
    "sender",
}


# --- create ------------------------------------------------------------------------------


async def test_create_group_shape_and_events(client, bus):
    owner, a, b = await users(client, 3)
    resp = await client.post(
        "/api/groups",
        headers=owner.auth,
        json={"name": "  Team  ", "description": "  ", "memberIds": [a.id, b.id, a.id, owner.id]},
    )
    assert resp.status == 200
    body = await resp.json()
    group = body["group"]
    assert set(body) == {"group"}
    assert set(group) == GROUP_KEYS
    assert group["name"] == "Team"
    assert group["description"] is None
    assert group["ownerId"] == owner.id
    assert ISO.match(group["createdAt"]) and ISO.match(group["updatedAt"])
    # Only accepted members (the creator) are listed.
    assert [m["userId"] for m in group["members"]] == [owner.id]
    me = group["members"][0]
    assert set(me) == MEMBER_KEYS
    assert me["role"] == "owner" and me["status"] == "accepted" and me["invitedBy"] is None
    assert me["user"] == {
        "id": owner.id,
        "username": owner.username,
        "displayName": "Test User",
        "profileImage": None,
    }
    assert bus.events("group:created") == [(owner.id, body)]
    invites = bus.events("group:invite")
    assert sorted(u for u, _ in invites) == sorted([a.id, b.id])
    assert invites[0][1] == {
        "groupId": group["id"],
        "groupName": "Team",
        "memberCount": 1,
        "invitedBy": "Test User",
    }


async def test_create_group_invitees_are_pending(client):
    owner, a = await users(client, 2)
    group = await create_group(client, owner, [a])
    resp = await client.get(f"/api/groups/{group['id']}", headers=a.auth)
    body = await resp.json()
    assert body["memberStatus"] == "pending"
    invitee = next(m for m in body["group"]["members"] if m["userId"] == a.id)
    assert invitee["role"] == "member" and invitee["invitedBy"] == owner.id


async def test_create_group_bad_input(client):
    owner = await make_user(client)
    cases = [
        ({}, 400, "Group name is required"),
        ({"name": "   "}, 400, "Group name is required"),
        ({"name": 5}, 400, "name must be a string"),
        ({"name": "x" * 101}, 400, "Group name must be at most 100 characters"),
        ({"name": "ok", "description": "d" * 501}, 400, None),
        ({"name": "ok", "description": ["x"]}, 400, None),
        ({"name": "ok", "memberIds": "abc"}, 400, None),
        ({"name": "ok", "memberIds": [1, 2]}, 400, None),
        ({"name": "ok", "memberIds": [str(uuid.uuid4()) for _ in range(101)]}, 400, None),
        ({"name": "ok", "memberIds": ["not-a-uuid"]}, 404, "User not found"),
        ({"name": "ok", "memberIds": [str(uuid.uuid4())]}, 404, "User not found"),
    ]
    for body, status, error in cases:
        resp = await client.post("/api/groups", headers=owner.auth, json=body)
        assert resp.status == status, body
        data = await resp.json()
        assert "error" in data
        if error:
            assert data["error"] == error
    resp = await client.post("/api/groups", headers=owner.auth, data="{nope")
    assert resp.status == 400
    resp = await client.post("/api/groups", headers=owner.auth, json=["name"])
    assert resp.status == 400
    # Nothing was created by the failures.
    assert (await (await client.get("/api/groups", headers=owner.auth)).json()) == {"groups": []}


# --- list --------------------------------------------------------------------------------


async def test_list_groups_shape_order_and_last_message(client):
    owner, a, b = await users(client, 3)
    first = await group_with(client, owner, accepted=[a], pending=[b])
    second = await group_with(client, owner)
    resp = await client.get("/api/groups", headers=owner.auth)
    assert resp.status == 200
    groups = (await resp.json())["groups"]
    # Ordered by the caller's joinedAt, newest first.
    assert [g["id"] for g in groups] == [second, first]
    item = groups[1]
    assert set(item) == GROUP_KEYS | {"messages", "lastMessage"}
    # All members, any status.
    assert {m["userId"]: m["status"] for m in item["members"]} == {
        owner.id: "accepted",
        a.id: "accepted",
        b.id: "pending",
    }
    # a's acceptance produced a system message, which is the last message.
    last = item["lastMessage"]
    assert item["messages"] == [last]
    assert last["type"] == "system"
    assert last["content"] == "Test User joined the group"
    assert last["sender"] == {"displayName": "Test User", "username": owner.username}
    assert set(last) == MESSAGE_KEYS
    assert groups[0]["messages"] == [] and groups[0]["lastMessage"] is None
    assert groups[0]["summary"] is None


async def test_list_groups_only_accepted(client):
    owner, a = await users(client, 2)
    await group_with(client, owner, pending=[a])
    resp = await client.get("/api/groups", headers=a.auth)
    assert (await resp.json()) == {"groups": []}


# --- invites, accept, decline ------------------------------------------------------------


async def test_invites_list(client):
    owner, a, b = await users(client, 3)
    gid = await group_with(client, owner, accepted=[b], pending=[a])
    resp = await client.get("/api/groups/invites", headers=a.auth)
    assert resp.status == 200
    assert await resp.json() == {
        "invites": [
            {
                "groupId": gid,
                "groupName": "Team",
                "groupDescription": None,
                "memberCount": 2,
                "invitedBy": "Test User",
                "invitedById": owner.id,
            }
        ]
    }
    assert await (await client.get("/api/groups/invites", headers=b.auth)).json() == {"invites": []}


async def test_accept_invite_effects(client, bus):
    owner, a, b = await users(client, 3)
    gid = await group_with(client, owner, accepted=[b], pending=[a])
    bus.clear()
    resp = await client.post(f"/api/groups/{gid}/accept", headers=a.auth)
    assert resp.status == 200
    body = await resp.json()
    assert {m["userId"] for m in body["group"]["members"]} == {owner.id, a.id, b.id}
    assert all(m["status"] == "accepted" for m in body["group"]["members"])
    assert bus.events("group:created") == [(a.id, body)]
    joined = bus.events("group:memberJoined")
    assert {u for u, _ in joined} == {owner.id, b.id}
    payload = joined[0][1]
    assert payload["groupId"] == gid and payload["userId"] == a.id
    assert set(payload["member"]) == {"id", "userId", "role", "user"}
    assert payload["member"]["role"] == "member"
    assert bus.events("group:inviteAccepted") == [
        (owner.id, {"groupId": gid, "groupName": "Team", "acceptedBy": "Test User"})
    ]
    system = bus.events("group:message")
    assert {u for u, _ in system} == {owner.id, a.id, b.id}
    message = system[0][1]
    assert set(message) == {"id", "groupId", "senderId", "content", "type", "createdAt", "sender"}
    assert message["type"] == "system" and message["sender"] is None
    assert message["senderId"] == owner.id
    assert message["content"] == "Test User joined the group"


async def test_accept_errors(client):
    owner, a, stranger = await users(client, 3)
    gid = await group_with(client, owner, accepted=[a])
    cases = [
        (a, gid, 400, "Already a member"),
        (stranger, gid, 404, "Invite not found"),
        (stranger, str(uuid.uuid4()), 404, "Invite not found"),
        (stranger, "garbage", 404, "Group not found"),
    ]
    for user, group_id, status, error in cases:
        resp = await client.post(f"/api/groups/{group_id}/accept", headers=user.auth)
        assert resp.status == status
        assert await resp.json() == {"error": error}


async def test_decline_invite(client, bus):
    owner, a, b = await users(client, 3)
    gid = await group_with(client, owner, accepted=[b], pending=[a])
    bus.clear()
    resp = await client.post(f"/api/groups/{gid}/decline", headers=a.auth)
    assert resp.status == 200
    assert await resp.json() == {"success": True}
    assert bus.sent == [
        (
            owner.id,
            "group:inviteDeclined",
            {"groupId": gid, "groupName": "Team", "declinedBy": "Test User"},
        )
    ]
    resp = await client.get(f"/api/groups/{gid}", headers=a.auth)
    assert resp.status == 403
    resp = await client.post(f"/api/groups/{gid}/decline", headers=a.auth)
    assert (resp.status, await resp.json()) == (404, {"error": "Invite not found"})
    resp = await client.post(f"/api/groups/{gid}/decline", headers=b.auth)
    assert (resp.status, await resp.json()) == (
        400,
        {"error": "Already a member — use leave instead"},
    )
    resp = await client.post("/api/groups/xyz/decline", headers=b.auth)
    assert resp.status == 404


# --- detail ------------------------------------------------------------------------------


async def test_detail(client):
    owner, a, b, stranger = await users(client, 4)
    gid = await group_with(client, owner, accepted=[a], pending=[b])
    resp = await client.get(f"/api/groups/{gid}", headers=a.auth)
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == {"group", "memberStatus"}
    assert body["memberStatus"] == "accepted"
    assert set(body["group"]) == GROUP_KEYS
    assert len(body["group"]["members"]) == 3
    resp = await client.get(f"/api/groups/{gid}", headers=b.auth)
    assert (await resp.json())["memberStatus"] == "pending"
    resp = await client.get(f"/api/groups/{gid}", headers=stranger.auth)
    assert (resp.status, await resp.json()) == (403, {"error": "Not a member of this group"})
    for bad in (str(uuid.uuid4()), "not-a-uuid", "1"):
        resp = await client.get(f"/api/groups/{bad}", headers=a.auth)
        assert (resp.status, await resp.json()) == (404, {"error": "Group not found"})


# --- history -----------------------------------------------------------------------------


async def _insert_messages(client, gid: str, sender_id: str, count: int) -> list[str]:
    pool = client.app[SERVICES].pool
    ids = []
    for i in range(count):
        row = await pool.fetchrow(
            "INSERT INTO group_messages (group_id, sender_id, content, created_at) "
            "VALUES ($1, $2, $3, now() + make_interval(secs => $4)) RETURNING id",
            gid,
            sender_id,
            f"m{i}",
            float(i + 1),
        )
        ids.append(str(row["id"]))
    return ids


async def test_history_newest_page_ascending(client):
    owner, a = await users(client, 2)
    gid = await group_with(client, owner, accepted=[a])
    await _insert_messages(client, gid, owner.id, 120)
    resp = await client.get(f"/api/groups/{gid}/messages", headers=a.auth)
    assert resp.status == 200
    messages = (await resp.json())["messages"]
    assert [m["content"] for m in messages] == [f"m{i}" for i in range(70, 120)]
    assert set(messages[0]) == MESSAGE_KEYS
    assert messages[0]["sender"] == {
        "id": owner.id,
        "username": owner.username,
        "displayName": "Test User",
        "profileImage": None,
    }
    assert "unsent" not in messages[0]
    # Page back with the oldest timestamp.
    resp = await client.get(
        f"/api/groups/{gid}/messages",
        headers=a.auth,
        params={"before": messages[0]["createdAt"], "limit": "30"},
    )
    older = (await resp.json())["messages"]
    assert [m["content"] for m in older] == [f"m{i}" for i in range(40, 70)]
    # Limit is clamped to 100; junk falls back to 50.
    resp = await client.get(f"/api/groups/{gid}/messages?limit=1000", headers=a.auth)
    assert len((await resp.json())["messages"]) == 100
    resp = await client.get(f"/api/groups/{gid}/messages?limit=abc", headers=a.auth)
    assert len((await resp.json())["messages"]) == 50
    resp = await client.get(f"/api/groups/{gid}/messages?limit=0", headers=a.auth)
    assert len((await resp.json())["messages"]) == 1


async def test_history_unsent_message_is_blanked(client):
    owner = await make_user(client)
    gid = await group_with(client, owner)
    [mid] = await _insert_messages(client, gid, owner.id, 1)
    pool = client.app[SERVICES].pool
    await pool.execute(
        "UPDATE group_messages SET deleted_at = now(), file_url = '/uploads/x', "
        "file_name = 'x', audio_waveform = '[0.1]'::jsonb WHERE id = $1",
        mid,
    )
    resp = await client.get(f"/api/groups/{gid}/messages", headers=owner.auth)
    [message] = (await resp.json())["messages"]
    assert message["unsent"] is True
    assert message["content"] == ""
    assert message["fileUrl"] is None and message["fileName"] is None
    assert message["audioWaveform"] is None
    assert ISO.match(message["deletedAt"])


async def test_history_errors(client):
    owner, pending, stranger = await users(client, 3)
    gid = await group_with(client, owner, pending=[pending])
    cases = [
        (stranger, gid, "", 403, "Not a member"),
        (pending, gid, "", 403, "Accept the group invite to view messages"),
        (owner, "junk", "", 404, "Group not found"),
        (owner, str(uuid.uuid4()), "", 403, "Not a member"),
        (owner, gid, "?before=yesterday", 400, "before must be an ISO timestamp"),
    ]
    for user, group_id, query, status, error in cases:
        resp = await client.get(f"/api/groups/{group_id}/messages{query}", headers=user.auth)
        assert (resp.status, await resp.json()) == (status, {"error": error})


async def test_history_service_for_socket_layer(client):
    owner, a = await users(client, 2)
    gid = await group_with(client, owner, pending=[a])
    await _insert_messages(client, gid, owner.id, 3)
    service = client.app[SERVICES].groups
    messages = await service.history(owner.id, gid, 2, None)
    assert [m["content"] for m in messages] == ["m1", "m2"]
    assert await service.accepted_member_ids(gid) == [owner.id]
    assert await service.accepted_member_ids("junk") == []


# --- update ------------------------------------------------------------------------------


async def test_update_group(client, bus):
    owner, admin, member, pending = await users(client, 4)
    gid = await group_with(client, owner, accepted=[admin, member], pending=[pending])
    await client.app[SERVICES].pool.execute(
        "UPDATE group_members SET role = 'admin' WHERE group_id = $1 AND user_id = $2",
        gid,
        admin.id,
    )
    bus.clear()
    resp = await client.patch(
        f"/api/groups/{gid}", headers=admin.auth, json={"name": " New ", "description": " D "}
    )
    assert resp.status == 200
    body = await resp.json()
    assert body["group"]["name"] == "New" and body["group"]["description"] == "D"
    assert len(body["group"]["members"]) == 4
    assert bus.recipients("group:updated") == {owner.id, admin.id, member.id, pending.id}
    assert bus.events("group:updated")[0][1] == body
    # Blank name is ignored, description key present clears it.
    resp = await client.patch(
        f"/api/groups/{gid}", headers=owner.auth, json={"name": "  ", "description": None}
    )
    body = await resp.json()
    assert body["group"]["name"] == "New" and body["group"]["description"] is None
    # Absent description is kept.
    await client.patch(f"/api/groups/{gid}", headers=owner.auth, json={"description": "x"})
    resp = await client.patch(f"/api/groups/{gid}", headers=owner.auth, json={"name": "N2"})
    assert (await resp.json())["group"]["description"] == "x"


async def test_update_group_errors(client):
    owner, member, pending, stranger = await users(client, 4)
    gid = await group_with(client, owner, accepted=[member], pending=[pending])
    for user in (member, pending, stranger):
        resp = await client.patch(f"/api/groups/{gid}", headers=user.auth, json={"name": "x"})
        assert (resp.status, await resp.json()) == (
            403,
            {"error": "Only admins can edit the group"},
        )
    resp = await client.patch(f"/api/groups/{uuid.uuid4()}", headers=owner.auth, json={"name": "x"})
    assert resp.status == 403
    resp = await client.patch("/api/groups/bad", headers=owner.auth, json={"name": "x"})
    assert (resp.status, await resp.json()) == (404, {"error": "Group not found"})
    for body in ({"name": 3}, {"name": "n" * 101}, {"description": {"a": 1}}):
        resp = await client.patch(f"/api/groups/{gid}", headers=owner.auth, json=body)
        assert resp.status == 400, body


# --- delete ------------------------------------------------------------------------------


async def test_delete_group(client, bus):
    owner, member, pending = await users(client, 3)
    gid = await group_with(client, owner, accepted=[member], pending=[pending])
    for user in (member, pending):
        resp = await client.delete(f"/api/groups/{gid}", headers=user.auth)
        assert (resp.status, await resp.json()) == (
            403,
            {"error": "Only owners can delete the group"},
        )
    bus.clear()
    resp = await client.delete(f"/api/groups/{gid}", headers=owner.auth)
    assert (resp.status, await resp.json()) == (200, {"success": True})
    assert bus.recipients("group:deleted") == {owner.id, member.id, pending.id}
    assert bus.events("group:deleted")[0][1] == {"groupId": gid, "groupName": "Team"}
    resp = await client.get(f"/api/groups/{gid}", headers=owner.auth)
    assert resp.status == 404
    resp = await client.delete(f"/api/groups/{gid}", headers=owner.auth)
    assert (resp.status, await resp.json()) == (404, {"error": "Group not found"})
    resp = await client.delete("/api/groups/nope", headers=owner.auth)
    assert resp.status == 404


async def test_invites_route_wins_over_id(client):
    owner = await make_user(client)
    resp = await client.get("/api/groups/invites", headers=owner.auth)
    assert resp.status == 200


async def test_accept_by_pending_member_via_helper(client):
    owner, a = await users(client, 2)
    group = await create_group(client, owner, [a], description="About")
    body = await accept(client, a, group["id"])
    assert body["group"]["description"] == "About"
