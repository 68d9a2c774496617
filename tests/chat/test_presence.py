"""Presence, typing and audio status (events.md §3, §6.2; behaviors.md §3)."""

from __future__ import annotations

import uuid

from chatr_server.appkeys import SERVICES
from tests.helpers import make_user
from tests.live import server_settled, settle


async def _befriend(client, a, b):
    await client.app[SERVICES].pool.execute(
        "INSERT INTO friendships (requester_id, addressee_id, status) VALUES ($1, $2, 'accepted')",
        uuid.UUID(a.id),
        uuid.UUID(b.id),
    )


async def test_friends_see_each_other_come_and_go(client, connect):
    alice, bob = await make_user(client), await make_user(client)
    await _befriend(client, alice, bob)
    a = await connect(alice)
    b = await connect(bob)
    online = await a.wait("user:status")
    assert online["userId"] == bob.id and online["status"] == "online"
    assert online["username"] == bob.username and "timestamp" in online
    assert b.events["presence:update"][0]["onlineUsers"] == [
        {"userId": alice.id, "status": "online"}
    ]
    await b.emit("presence:update", "away")
    assert (await a.wait("user:status"))["status"] == "away"
    await b.close()
    offline = await a.wait("user:status")
    assert offline["status"] == "offline" and offline["lastSeen"]
    last_seen = await client.app[SERVICES].pool.fetchval(
        "SELECT last_seen FROM users WHERE id = $1", uuid.UUID(bob.id)
    )
    assert last_seen is not None


async def test_second_tab_keeps_user_online(client, connect):
    alice, bob = await make_user(client), await make_user(client)
    await _befriend(client, alice, bob)
    a = await connect(alice)
    tab1, tab2 = await connect(bob), await connect(bob)
    await a.wait_count("user:status", 2)
    await server_settled(client, tab1)
    await settle(a)
    assert all(s["status"] == "online" for s in a.events["user:status"])
    await a.emit("presence:request", [bob.id])
    response = await a.wait("presence:response")
    assert response[0]["status"] == "online"
    await tab2.close()
    assert (await a.wait("user:status", index=2))["status"] == "offline"


async def test_presence_request_hides_strangers_and_hidden_users(client, connect):
    alice, bob, stranger = await make_user(client), await make_user(client), await make_user(client)
    await _befriend(client, alice, bob)
    await client.app[SERVICES].pool.execute(
        "UPDATE users SET privacy_online_status = 'nobody', last_seen = now() WHERE id = $1",
        uuid.UUID(bob.id),
    )
    a = await connect(alice)
    await a.emit("presence:request", [bob.id, stranger.id, "junk", 7])
    response = await a.wait("presence:response")
    assert [r["userId"] for r in response] == [bob.id, stranger.id, "junk", 7]
    # Bob hides his status: offline and no last-seen time (SEC-13).
    assert response[0] == {"userId": bob.id, "status": "offline", "lastSeen": None, "hidden": True}
    assert response[1] == {
        "userId": stranger.id,
        "status": "offline",
        "lastSeen": None,
        "hidden": True,
    }
    b = await connect(bob)
    await settle(b, a)  # b's connect sequence has run; a got what it sent
    assert a.events["user:status"] == []  # hidden users announce nothing
    await a.emit("presence:request", [bob.id])
    assert (await a.wait("presence:response"))[0]["status"] == "offline"
    await a.emit("presence:request", "not-a-list")
    assert await a.wait("error") == {"message": "Invalid payload"}
    await b.emit("presence:update", "dancing")
    assert await b.wait("error") == {"message": "Invalid payload"}


async def test_pending_request_presence_runs_one_way(client, connect):
    """X→Y pending: Y gets no live status of X; X gets Y's (behaviors.md §3)."""
    x, y = await make_user(client), await make_user(client)
    cx = await connect(x)
    await cx.emit("message:send", {"recipientId": y.id, "content": "hi"})
    await cx.wait("message:sent")
    cy = await connect(y)
    assert (await cx.wait("user:status"))["userId"] == y.id
    await server_settled(client, cx)
    await settle(cy)
    assert cy.events["user:status"] == []


async def test_typing_relayed_and_suppressed_for_pending_initiator(client, connect):
    alice, bob = await make_user(client), await make_user(client)
    a, b = await connect(alice), await connect(bob)
    await a.emit("message:send", {"recipientId": bob.id, "content": "request"})
    await a.wait("message:sent")
    await a.emit("typing:start", {"recipientId": bob.id})  # initiator of a pending request
    await b.emit("typing:start", {"recipientId": alice.id})  # the recipient may type back
    status = await a.wait("typing:status")
    assert status == {
        "userId": bob.id,
        "username": bob.username,
        "isTyping": True,
        "type": "direct",
    }
    await settle(a, b)
    assert b.events["typing:status"] == []
    await b.emit("typing:start", {"recipientId": "nope"})
    assert await b.wait("error") == {"message": "Invalid payload"}


async def test_audio_recording_and_listening(client, connect):
    alice, bob, eve = await make_user(client), await make_user(client), await make_user(client)
    await _befriend(client, alice, bob)
    a, b, e = await connect(alice), await connect(bob), await connect(eve)
    await a.emit(
        "message:send", {"recipientId": bob.id, "content": "Voice message", "type": "audio"}
    )
    sent = await a.wait("message:sent")
    assert sent["conversationStatus"] == "accepted"
    await a.emit("audio:recording", {"recipientId": bob.id, "isRecording": True})
    assert await b.wait("audio:recording") == {
        "userId": alice.id,
        "username": alice.username,
        "isRecording": True,
    }
    # Eve is not the recipient: her listening report goes nowhere.
    await e.emit(
        "audio:listening", {"senderId": alice.id, "messageId": sent["id"], "isListening": True}
    )
    await b.emit(
        "audio:listening", {"senderId": alice.id, "messageId": sent["id"], "isListening": True}
    )
    listening = await a.wait("audio:listening")
    assert listening["userId"] == bob.id and listening["isListening"] is True
    await b.emit("audio:listened", {"senderId": alice.id, "messageId": sent["id"]})
    ended = await a.wait("audio:listening")
    assert ended["isEnded"] is True
    status = await a.wait("message:status")
    assert status["status"] == "read" and status["messageId"] == sent["id"]
    assert len(a.events["audio:listening"]) == 2
    await b.emit("audio:recording", {"recipientId": alice.id})
    assert await b.wait("error") == {"message": "Invalid payload"}


async def test_profile_update_reaches_connected_users_unless_test_mode(client, connect):
    alice, bob, stranger = [await make_user(client) for _ in range(3)]
    await _befriend(client, alice, bob)
    b, s = await connect(bob), await connect(stranger)
    await client.post("/api/test/mode", json={"enabled": False})
    try:
        resp = await client.put("/api/users/me", headers=alice.auth, json={"displayName": "Ally"})
        assert resp.status == 200
        update = await b.wait("user:profileUpdate")
        assert update == {
            "userId": alice.id,
            "displayName": "Ally",
            "firstName": "Test",
            "lastName": "User",
            "profileImage": None,
        }
    finally:
        await client.post("/api/test/mode", json={"enabled": True})
    await client.put("/api/users/me", headers=alice.auth, json={"displayName": "Quiet"})
    await settle(b, s)
    assert len(b.events["user:profileUpdate"]) == 1
    assert s.events["user:profileUpdate"] == []


async def test_settings_update_hides_and_shows(client, connect):
    alice, bob = await make_user(client), await make_user(client)
    await _befriend(client, alice, bob)
    a, b = await connect(alice), await connect(bob)
    await a.wait("user:status")
    await b.emit("settings:update", {"privacyOnlineStatus": "nobody"})
    hidden = await a.wait("user:status")
    assert hidden["status"] == "offline" and hidden["hidden"] is True and hidden["lastSeen"]
    me = await (await client.get("/api/users/me", headers=bob.auth)).json()
    assert me["privacyOnlineStatus"] == "nobody"
    await b.emit("settings:update", {"privacyOnlineStatus": "everyone"})
    shown = await a.wait("user:status")
    assert shown["status"] == "online" and shown["hidden"] is False and shown["lastSeen"] is None
    await b.emit("settings:update", {"privacyOnlineStatus": "martian"})  # ignored
    await b.emit("settings:update", "nobody")
    assert await b.wait("error") == {"message": "Invalid payload"}


async def test_ghost_typing(client, connect):
    alice, bob = await make_user(client), await make_user(client)
    await _befriend(client, alice, bob)
    a, b = await connect(alice), await connect(bob)
    await a.emit("message:send", {"recipientId": bob.id, "content": "hi"})  # accepted (friends)
    await a.wait("message:sent")
    await a.emit("ghost:typing", {"recipientId": bob.id, "text": "draf"})
    assert await b.wait("ghost:typing") == {
        "userId": alice.id,
        "username": alice.username,
        "text": "draf",
        "type": "direct",
    }
    await a.emit("ghost:typing", {"recipientId": bob.id})
    assert await a.wait("error") == {"message": "Invalid payload"}


async def test_friend_notify_only_relays_real_changes(client, connect):
    alice, bob = await make_user(client), await make_user(client)
    a, b = await connect(alice), await connect(bob)
    # Forged: nothing happened yet.
    await a.emit("friend:notify", {"type": "accepted", "addresseeId": bob.id})
    await settle(a, b)
    assert b.events["friend:update"] == []
    resp = await client.post(
        "/api/friends/request", headers=alice.auth, json={"addresseeId": bob.id}
    )
    friendship = (await resp.json())["friendship"]
    await a.emit(
        "friend:notify",
        {"type": "request", "addresseeId": bob.id, "friendshipId": friendship["id"]},
    )
    update = await b.wait("friend:update")
    assert update["type"] == "request" and update["friendshipId"] == friendship["id"]
    assert update["from"]["id"] == alice.id
    assert (await a.wait("friend:update"))["type"] == "request"
    # Replaying the same notification relays nothing more.
    await a.emit(
        "friend:notify",
        {"type": "request", "addresseeId": bob.id, "friendshipId": friendship["id"]},
    )
    await settle(a, b)
    assert len(b.events["friend:update"]) == 1
