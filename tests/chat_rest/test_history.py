"""``GET /api/messages/:recipientId``, ``GET /api/users/conversations``, waveform PATCH."""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from tests.chat_rest.helpers import befriend, block, conversation, insert_message, set_privacy
from tests.helpers import make_user

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
T0 = datetime(2026, 3, 5, 14, 0, 0, tzinfo=UTC)


async def _history(client, user, other, query=""):
    resp = await client.get(f"/api/messages/{other}{query}", headers=user.auth)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_history_needs_a_token(client):
    resp = await client.get("/api/messages/00000000-0000-4000-8000-000000000000")
    assert resp.status == 401


async def test_history_shape_order_and_read_marking(client, db):
    alice = await make_user(client)
    bob = await make_user(client)
    first = await insert_message(db, alice.id, bob.id, "one", created_at=T0)
    second = await insert_message(db, bob.id, alice.id, "two", created_at=T0 + timedelta(seconds=1))
    third = await insert_message(
        db, bob.id, alice.id, "three", created_at=T0 + timedelta(seconds=2)
    )

    body = await _history(client, alice, bob.id)
    assert body["hasMore"] is False
    messages = body["messages"]
    assert [m["id"] for m in messages] == [first, second, third]
    m = messages[1]
    assert m["senderId"] == bob.id and m["recipientId"] == alice.id
    assert m["senderUsername"] == bob.username
    assert m["senderDisplayName"] == "Test User"
    assert m["content"] == "two" and m["type"] == "text" and m["status"] == "sent"
    assert m["unsent"] is False and m["edited"] is False and m["editedAt"] is None
    assert m["reactions"] == [] and "replyTo" not in m
    assert m["createdAt"] == "2026-03-05T14:00:01.000Z"
    # Incoming messages of the page are now read; outgoing ones untouched.
    rows = await db.fetch(
        "SELECT id::text, is_read, read_at FROM messages WHERE id = ANY($1::uuid[])",
        [first, second, third],
    )
    state = {r["id"]: r["is_read"] for r in rows}
    assert state == {first: False, second: True, third: True}
    assert all(r["read_at"] is not None for r in rows if r["is_read"])
    # Bob sees the same conversation; reading it marks alice's message.
    body = await _history(client, bob, alice.id)
    assert [m["id"] for m in body["messages"]] == [first, second, third]
    assert await db.fetchval("SELECT is_read FROM messages WHERE id = $1", first)


async def test_history_keyset_pages_with_equal_timestamps(client, db):
    alice = await make_user(client)
    bob = await make_user(client)
    ids = []
    for i in range(25):
        # Pairs of messages share a timestamp: the id breaks the tie.
        ts = T0 + timedelta(seconds=i // 2)
        ids.append(await insert_message(db, alice.id, bob.id, f"m{i}", created_at=ts))
    expected = [
        r["id"]
        for r in await db.fetch(
            "SELECT id::text FROM messages WHERE id = ANY($1::uuid[]) ORDER BY created_at, id",
            ids,
        )
    ]
    seen: list[str] = []
    before = ""
    pages = 0
    while True:
        body = await _history(client, alice, bob.id, f"?limit=10{before}")
        page = [m["id"] for m in body["messages"]]
        seen = page + seen
        pages += 1
        if not body["hasMore"]:
            break
        before = f"&before={page[0]}"
    assert seen == expected
    assert pages == 3


async def test_history_limit_clamp_and_bad_before(client, db):
    alice = await make_user(client)
    bob = await make_user(client)
    for i in range(3):
        await insert_message(db, alice.id, bob.id, f"m{i}", created_at=T0 + timedelta(seconds=i))
    assert len((await _history(client, alice, bob.id, "?limit=0"))["messages"]) == 1
    assert len((await _history(client, alice, bob.id, "?limit=-5"))["messages"]) == 1
    for limit in ("abc", "1e3", "", "99999999999999999999"):
        body = await _history(client, alice, bob.id, f"?limit={limit}")
        assert len(body["messages"]) == 3
    # Unknown, malformed or foreign `before` ids are ignored.
    carol = await make_user(client)
    foreign = await insert_message(db, carol.id, alice.id, "other chat")
    for before in ("00000000-0000-4000-8000-000000000000", "nope", foreign):
        body = await _history(client, alice, bob.id, f"?before={before}")
        assert len(body["messages"]) == 3


async def test_history_of_other_pairs_and_bogus_partner(client, db):
    alice = await make_user(client)
    bob = await make_user(client)
    eve = await make_user(client)
    await insert_message(db, alice.id, bob.id, "private")
    assert (await _history(client, eve, bob.id))["messages"] == []
    assert (await _history(client, eve, alice.id))["messages"] == []
    # The legacy client hook GET /api/messages/history?otherUserId= matches nothing.
    assert await _history(client, alice, "history", f"?otherUserId={bob.id}") == {
        "messages": [],
        "hasMore": False,
    }


async def test_history_unsent_reply_and_reactions(client, db):
    alice = await make_user(client)
    bob = await make_user(client)
    original = await insert_message(
        db,
        alice.id,
        bob.id,
        "photo",
        type="image",
        file_url="/uploads/messages/p.png",
        file_name="p.png",
        file_size=10,
        file_type="image/png",
        edited=True,
        edited_at=T0,
        created_at=T0,
    )
    await db.execute("UPDATE messages SET deleted_at = now() WHERE id = $1", original)
    await db.execute(
        "INSERT INTO message_reactions (message_id, user_id, emoji) VALUES ($1, $2, '👍')",
        original,
        bob.id,
    )
    reply = await insert_message(
        db,
        bob.id,
        alice.id,
        "nice",
        reply_to_id=original,
        reply_to_content="photo",
        reply_to_sender_name="Alice",
        reply_to_type="image",
        reply_to_duration=0.0,
        edited=True,
        edited_at=T0 + timedelta(seconds=5),
        created_at=T0 + timedelta(seconds=1),
    )
    messages = (await _history(client, alice, bob.id))["messages"]
    unsent, answer = messages
    assert unsent["id"] == original
    assert unsent["unsent"] is True and unsent["content"] == "" and unsent["type"] == "text"
    assert unsent["fileUrl"] is None and unsent["fileType"] is None and unsent["waveform"] is None
    assert unsent["edited"] is False and unsent["editedAt"] is None
    assert unsent["reactions"] == [{"userId": bob.id, "username": bob.username, "emoji": "👍"}]
    assert answer["id"] == reply
    assert answer["edited"] is True and TS.match(answer["editedAt"])
    assert answer["replyTo"] == {
        "id": original,
        "content": "photo",
        "senderDisplayName": "Alice",
        "senderUsername": "Alice",
        "type": "image",
        "duration": None,
    }


async def test_conversation_list(client, db):
    me = await make_user(client)
    friend = await make_user(client)
    requester = await make_user(client)
    rowless = await make_user(client)
    ghost = await make_user(client)
    blocked = await make_user(client)
    stranger = await make_user(client)

    friendship = await befriend(db, me.id, friend.id)
    conv_friend = await conversation(db, me.id, friend.id, "accepted")
    await insert_message(db, me.id, friend.id, "hey", created_at=T0)
    last = await insert_message(db, friend.id, me.id, "hello", created_at=T0 + timedelta(seconds=1))
    # An unsent newer message is not the last message and is not unread.
    await insert_message(
        db, friend.id, me.id, "oops", created_at=T0 + timedelta(seconds=2), deleted_at=T0
    )

    conv_request = await conversation(db, requester.id, me.id, "pending")
    for i in range(3):
        await insert_message(
            db, requester.id, me.id, f"req {i}", created_at=T0 + timedelta(minutes=1, seconds=i)
        )

    await insert_message(db, rowless.id, me.id, "no row", created_at=T0 + timedelta(minutes=2))
    await insert_message(db, me.id, ghost.id, "gone", deleted_at=T0)  # only unsent: hidden
    await conversation(db, me.id, ghost.id, "accepted")

    await conversation(db, me.id, blocked.id, "accepted")
    await insert_message(db, blocked.id, me.id, "before block", created_at=T0)
    await block(db, me.id, blocked.id)
    await insert_message(db, stranger.id, friend.id, "not mine")
    await set_privacy(db, requester.id, privacy_full_name="nobody")

    # Row-less partners on both sides of the pair order (user_lo and user_hi).
    low = "00000000" + str(uuid.uuid4())[8:]
    high = "ffffffff" + str(uuid.uuid4())[8:]
    for partner in (low, high):
        await db.execute(
            "INSERT INTO users (id, username, password_hash) VALUES ($1, $2, 'x')",
            partner,
            f"@p{partner[:8]}{secrets.token_hex(3)}",
        )
        await insert_message(db, me.id, partner, "to edge")

    resp = await client.get("/api/users/conversations", headers=me.auth)
    assert resp.status == 200
    entries = {e["id"]: e for e in (await resp.json())["conversations"]}
    assert set(entries) == {friend.id, requester.id, rowless.id, blocked.id, low, high}
    assert entries[low]["conversationId"] is None and entries[high]["unreadCount"] == 0
    for entry in entries.values():
        assert entry["summary"] is None

    f = entries[friend.id]
    assert f["lastMessage"] == {
        "id": last,
        "content": "hello",
        "type": "text",
        "createdAt": "2026-03-05T14:00:01.000Z",
        "senderId": friend.id,
        "isRead": False,
        "fileType": None,
    }
    assert f["lastMessageAt"] == "2026-03-05T14:00:01.000Z"
    assert f["unreadCount"] == 1
    assert f["conversationId"] == conv_friend and f["conversationStatus"] == "accepted"
    assert f["isInitiator"] is True
    assert f["isFriend"] is True and f["friendshipId"] == friendship
    assert f["isBlocked"] is False and f["blockedByMe"] is False

    r = entries[requester.id]
    assert r["unreadCount"] == 3 and r["lastMessage"]["content"] == "req 2"
    assert r["conversationId"] == conv_request and r["conversationStatus"] == "pending"
    assert r["isInitiator"] is False and r["isFriend"] is False and r["friendshipId"] is None
    assert r["firstName"] is None and r["lastName"] is None

    n = entries[rowless.id]
    assert n["conversationId"] is None and n["conversationStatus"] is None
    assert n["isInitiator"] is False and n["unreadCount"] == 1

    b = entries[blocked.id]
    assert b["isBlocked"] is True and b["blockedByMe"] is True
    resp = await client.get("/api/users/conversations", headers=blocked.auth)
    mine = next(e for e in (await resp.json())["conversations"] if e["id"] == me.id)
    assert mine["isBlocked"] is True and mine["blockedByMe"] is False

    # Reading the history clears the unread count.
    await _history(client, me, requester.id)
    resp = await client.get("/api/users/conversations", headers=me.auth)
    entries = {e["id"]: e for e in (await resp.json())["conversations"]}
    assert entries[requester.id]["unreadCount"] == 0


async def test_conversation_list_empty(client):
    me = await make_user(client)
    resp = await client.get("/api/users/conversations", headers=me.auth)
    assert await resp.json() == {"conversations": []}


async def test_waveform_patch(client, db, bus):
    alice = await make_user(client)
    bob = await make_user(client)
    msg = await insert_message(
        db, alice.id, bob.id, "Voice message", type="audio", audio_duration=2.5
    )
    url = f"/api/messages/{msg}/waveform"

    resp = await client.patch(url, json={"waveform": [0.1, 0.5, 2]}, headers=alice.auth)
    assert resp.status == 200
    assert await resp.json() == {"success": True}
    row = await db.fetchrow(
        "SELECT audio_waveform, audio_duration FROM messages WHERE id = $1", msg
    )
    assert row["audio_waveform"] == [0.1, 0.5, 1.0]  # clamped into 0..1
    assert row["audio_duration"] == 2.5  # kept when not given
    events = bus.events("audio:waveform")
    assert sorted(uid for uid, _ in events) == sorted([alice.id, bob.id])
    assert events[0][1] == {"messageId": msg, "waveform": [0.1, 0.5, 1.0], "duration": 2.5}

    resp = await client.patch(url, json={"waveform": [0.2], "duration": 4}, headers=alice.auth)
    assert resp.status == 200
    assert await db.fetchval("SELECT audio_duration FROM messages WHERE id = $1", msg) == 4.0


async def test_waveform_patch_errors(client, db):
    alice = await make_user(client)
    bob = await make_user(client)
    msg = await insert_message(db, alice.id, bob.id, "Voice message", type="audio")
    url = f"/api/messages/{msg}/waveform"
    assert (await client.patch(url, json={"waveform": [0.1]})).status == 401
    for body in ({}, {"waveform": "0.1,0.2"}, {"waveform": None}, {"waveform": {"a": 1}}):
        resp = await client.patch(url, json=body, headers=alice.auth)
        assert resp.status == 400
        assert await resp.json() == {"error": "waveform array required"}
    for body in (
        {"waveform": ["x"]},
        {"waveform": [True]},
        {"waveform": [0.1] * 5000},
        {"waveform": [0.1], "duration": "long"},
        {"waveform": [0.1], "duration": -3},
    ):
        resp = await client.patch(url, json=body, headers=alice.auth)
        assert resp.status == 400, body
    resp = await client.patch(url, data=b"{not json", headers=alice.auth)
    assert resp.status == 400
    resp = await client.patch(url, json={"waveform": [0.1]}, headers=bob.auth)
    assert resp.status == 403
    assert await resp.json() == {"error": "Access denied"}
    for missing in ("00000000-0000-4000-8000-000000000000", "nope"):
        resp = await client.patch(
            f"/api/messages/{missing}/waveform", json={"waveform": [0.1]}, headers=alice.auth
        )
        assert resp.status == 404
        assert await resp.json() == {"error": "Message not found"}
