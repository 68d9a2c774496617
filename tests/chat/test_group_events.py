"""Group events on the socket (events.md §6.3), members only."""

from __future__ import annotations

from tests.helpers import make_user
from tests.live import settle


async def _group(client):
    owner, member, invitee, outsider = [await make_user(client) for _ in range(4)]
    resp = await client.post(
        "/api/groups",
        headers=owner.auth,
        json={"name": "Team", "memberIds": [member.id, invitee.id]},
    )
    group = (await resp.json())["group"]
    assert (
        await client.post(f"/api/groups/{group['id']}/accept", headers=member.auth)
    ).status == 200
    return group["id"], owner, member, invitee, outsider


async def test_group_message_fans_out_to_accepted_members(client, connect):
    gid, owner, member, invitee, outsider = await _group(client)
    o, m, i, x = [await connect(u) for u in (owner, member, invitee, outsider)]
    await o.emit("group:message", {"groupId": gid, "content": " hello team ", "tempId": "g-1"})
    got = await m.wait("group:message")
    mine = await o.wait("group:message")
    assert got == mine
    assert got["content"] == "hello team" and got["tempId"] == "g-1" and got["groupId"] == gid
    assert got["sender"] == {
        "id": owner.id,
        "username": owner.username,
        "displayName": "Test User",
        "profileImage": None,
    }
    assert "waveform" in got and "duration" in got and got["createdAt"]
    # Same temp id again: same message, no second row.
    await o.emit("group:message", {"groupId": gid, "content": "again", "tempId": "g-1"})
    assert (await m.wait("group:message"))["id"] == got["id"]
    await x.emit("group:message", {"groupId": gid, "content": "let me in"})
    assert await x.wait("error") == "Not a member of this group"
    await i.emit("group:message", {"groupId": gid, "content": "pending"})
    assert await i.wait("error") == "Accept the group invite before sending messages"
    await x.emit("group:message", {"groupId": "junk", "content": "x"})
    assert await x.wait("error") == "Invalid payload"
    await settle(o, i, x)
    assert i.events["group:message"] == [] and x.events["group:message"] == []
    history = await m.call("group:messages:history", {"groupId": gid})
    assert history["messages"][-1]["id"] == got["id"]
    assert sum(h["id"] == got["id"] for h in history["messages"]) == 1
    assert await x.call("group:messages:history", {"groupId": gid}) == {"error": "Not a member"}
    assert await i.call("group:messages:history", {"groupId": gid}) == {
        "error": "Accept the group invite first"
    }
    assert await m.call("group:messages:history", {}) == {"error": "groupId is required"}


async def test_group_typing_and_unsend(client, connect):
    gid, owner, member, _invitee, outsider = await _group(client)
    o, m, x = [await connect(u) for u in (owner, member, outsider)]
    await m.emit("group:typing", {"groupId": gid, "isTyping": True})
    typing = await o.wait("group:typing")
    assert typing == {
        "groupId": gid,
        "userId": member.id,
        "displayName": "Test User",
        "isTyping": True,
    }
    await x.emit("group:typing", {"groupId": gid, "isTyping": True})
    assert await x.wait("error") == {"message": "Not a member of this group"}
    await o.emit("group:message", {"groupId": gid, "content": "oops"})
    msg = await m.wait("group:message")
    await m.emit("group:message:unsend", msg["id"])  # not the sender: ignored
    await settle(m, o)
    assert o.events["group:message:unsent"] == []
    await o.emit("group:message:unsend", msg["id"])
    unsent = await m.wait("group:message:unsent")
    assert unsent == {"messageId": msg["id"], "groupId": gid, "senderDisplayName": "Test User"}
    history = await m.call("group:messages:history", {"groupId": gid})
    assert history["messages"][-1]["unsent"] is True and history["messages"][-1]["content"] == ""


async def test_legacy_rooms(client, connect):
    gid, owner, member, _invitee, outsider = await _group(client)
    o, m, x = [await connect(u) for u in (owner, member, outsider)]
    await o.emit("group:join", gid)
    await o.call("groups:list", {})  # a round trip: o's join is handled by now
    await m.emit("group:join", gid)
    joined = await o.wait("group:user:joined")
    assert joined["userId"] == member.id and joined["groupId"] == gid
    await x.emit("group:join", gid)
    assert await x.wait("error") == {"message": "Not a member of this group"}
    await m.emit("group:message:send", {"groupId": gid, "content": "legacy hi"})
    for live in (o, m):
        received = await live.wait("group:message:received")
        assert received["content"] == "legacy hi" and received["senderUsername"] == member.username
    await m.emit("group:message:send", {"groupId": gid, "content": " "})
    assert await m.wait("error") == {"message": "Message content is required"}
    await m.emit("typing:start", {"groupId": gid})
    assert (await o.wait("typing:status"))["type"] == "group"
    await m.emit("group:leave", gid)
    assert (await o.wait("group:user:left"))["userId"] == member.id
