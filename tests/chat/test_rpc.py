"""Ack-based RPC events (events.md §6.6) answer like their REST routes."""

from __future__ import annotations

import pytest

from tests.helpers import make_user


async def test_users_me_matches_rest_minus_is_support(client, connect):
    user = await make_user(client)
    live = await connect(user)
    rest = await (await client.get("/api/users/me", headers=user.auth)).json()
    rest.pop("isSupport")
    assert await live.call("users:me", {}) == rest
    updated = await live.call("users:me:update", {"displayName": "Via Socket"})
    assert updated["displayName"] == "Via Socket"
    assert await live.call("users:me:update", {"gender": "robot"}) == {
        "error": "Invalid gender value"
    }
    assert await live.call("users:me:update", {"displayName": 7}) == {
        "error": "displayName: Not a valid string."
    }
    assert await live.call("users:me:settings", {"privacyPhone": "friends"}) == {"ok": True}
    assert "error" in await live.call("users:me:settings", {})


async def test_friends_rpc_flow_and_errors(client, connect):
    alice, bob = await make_user(client), await make_user(client)
    a, b = await connect(alice), await connect(bob)
    sent = await a.call("friends:request", {"addresseeId": bob.id})
    friendship = sent["friendship"]
    assert friendship["status"] == "pending"
    incoming = await b.call("friends:requests:incoming", {})
    assert [r["friendshipId"] for r in incoming["requests"]] == [friendship["id"]]
    assert "error" in await a.call("friends:accept", {"friendshipId": friendship["id"]})
    accepted = await b.call("friends:accept", {"friendshipId": friendship["id"]})
    assert accepted["friendship"]["status"] == "accepted"
    friends = await a.call("friends:list", {})
    assert len(friends["friends"]) == 1
    assert await a.call("friends:request", {}) == {"error": "addresseeId required"}
    assert await a.call("friends:block-status", {"targetUserId": bob.id}) == {"blocked": False}


async def test_groups_rpc_flow(client, connect):
    owner, member, stranger = [await make_user(client) for _ in range(3)]
    o, m, x = [await connect(u) for u in (owner, member, stranger)]
    created = await o.call("groups:create", {"name": "RPC group", "memberIds": [member.id]})
    gid = created["group"]["id"]
    invites = await m.call("groups:invites", {})
    assert [i["groupId"] for i in invites["invites"]] == [gid]
    assert (await m.call("groups:accept", {"groupId": gid}))["group"]["id"] == gid
    listed = await m.call("groups:list", {})
    assert [g["id"] for g in listed["groups"]] == [gid]
    detail = await m.call("groups:detail", {"groupId": gid})
    assert detail["memberStatus"] == "accepted"
    assert "error" in await x.call("groups:detail", {"groupId": gid})
    assert "error" in await m.call("groups:update", {"groupId": gid, "name": "Mine now"})
    assert (await o.call("groups:update", {"groupId": gid, "name": "Renamed"}))["group"][
        "name"
    ] == "Renamed"
    assert await o.call("groups:members:promote", {"groupId": gid, "memberId": member.id}) == {
        "success": True
    }
    assert await m.call("groups:leave", {"groupId": gid}) == {"success": True, "deleted": False}
    assert await o.call("groups:delete", {"groupId": gid}) == {"success": True}
    assert "error" in await o.call("groups:create", {"name": "   "})


@pytest.mark.parametrize("payload", ["a string", 5, ["list"]])
async def test_rpc_rejects_non_object_payloads(client, connect, payload):
    user = await make_user(client)
    live = await connect(user)
    assert await live.call("groups:list", payload) == {"error": "Invalid payload"}


async def test_conversation_rpc(client, connect):
    alice, bob, eve = [await make_user(client) for _ in range(3)]
    a, b, e = [await connect(u) for u in (alice, bob, eve)]
    await a.emit("message:send", {"recipientId": bob.id, "content": "request"})
    sent = await a.wait("message:sent")
    cid = sent["conversationId"]
    assert "error" in await e.call("conversation:accept", {"conversationId": cid})
    accepted = await b.call("conversation:accept", {"conversationId": cid})
    assert accepted["conversation"]["status"] == "accepted"
    assert (await a.wait("conversation:accepted"))["conversationId"] == cid
    assert await b.call("conversation:nuke", {"conversationId": cid}) == {"success": True}
    declined = await a.wait("conversation:declined")
    assert declined["conversationId"] == cid


async def test_history_lists_and_profiles_over_rpc(client, connect):
    alice, bob, eve = [await make_user(client) for _ in range(3)]
    a, b = await connect(alice), await connect(bob)
    await a.emit("message:send", {"recipientId": bob.id, "content": "one"})
    await a.wait("message:sent")
    history = await b.call("messages:history", {"recipientId": alice.id})
    rest = await (await client.get(f"/api/messages/{alice.id}", headers=bob.auth)).json()
    assert [m["id"] for m in history["messages"]] == [m["id"] for m in rest["messages"]]
    assert history["hasMore"] is False
    assert await b.call("messages:history", {}) == {"error": "recipientId is required"}
    convs = await a.call("conversations:request", {})
    assert [c["id"] for c in convs["conversations"]] == [bob.id]
    profile = await a.call("user:profile:request", {"targetUserId": bob.id})
    assert profile["user"]["id"] == bob.id
    assert await a.call("user:profile:request", {}) == {"error": "Missing targetUserId"}
    assert await a.call("user:profile:request", {"targetUserId": "nope"}) == {
        "error": "User not found"
    }
    found = await a.call("users:search", {"q": eve.username[1:6]})
    assert "users" in found
    assert "users" in await a.call("users:list", {})
