"""message:send and receipts over real sockets (events.md §6.1)."""

from __future__ import annotations

import asyncio
import re

from chatr_server.appkeys import SERVICES
from tests.helpers import dm_args, make_user
from tests.live import settle

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _pool(client):
    return client.app[SERVICES].pool


async def test_first_message_creates_pending_request_and_reply_accepts_it(client, connect):
    alice, bob = await make_user(client), await make_user(client)
    a, b = await connect(alice), await connect(bob)
    await a.emit(
        "message:send", {"recipientId": bob.id, "content": "hello bob", "tempId": "temp-1"}
    )
    sent = await a.wait("message:sent")
    received = await b.wait("message:received")
    assert sent["tempId"] == "temp-1"
    assert sent["id"] == received["id"]
    assert sent["conversationStatus"] == "pending"
    assert sent["status"] == "sent"  # pending requests are not marked delivered
    assert TS.match(sent["timestamp"])
    for key in ("fileUrl", "fileName", "fileSize", "fileType", "waveform", "duration"):
        assert key in sent and sent[key] is None
        assert key not in received
    assert received["senderUsername"] == alice.username
    assert received["senderDisplayName"] == "Test User"
    assert received["senderIsGuest"] is False
    assert received["content"] == "hello bob"
    # Bob replies: the request is accepted and Alice is told.
    await b.emit("message:send", {"recipientId": alice.id, "content": "hi alice"})
    accepted = await a.wait("conversation:accepted")
    assert accepted == {"conversationId": sent["conversationId"], "acceptedBy": bob.id}
    reply = await b.wait("message:sent")
    assert reply["conversationStatus"] == "accepted"
    assert reply["status"] == "delivered"  # Alice is online and the pair accepted
    assert "tempId" not in reply


async def test_resend_with_same_temp_id_is_idempotent(client, connect):
    alice, bob = await make_user(client), await make_user(client)
    a, b = await connect(alice), await connect(bob)
    payload = {"recipientId": bob.id, "content": "once", "tempId": "temp-42"}
    await a.emit("message:send", payload)
    first = await a.wait("message:sent")
    await a.emit("message:send", {**payload, "content": "changed"})
    second = await a.wait("message:sent")
    assert second["id"] == first["id"]
    assert second["timestamp"] == first["timestamp"]
    assert second["content"] == "once"
    await settle(a, b)
    assert len(b.events["message:received"]) == 1
    count = await _pool(client).fetchval(
        "SELECT count(*) FROM messages WHERE sender_id = $1", __import__("uuid").UUID(alice.id)
    )
    assert count == 1
    # Another user may use the same temp id.
    await b.emit("message:send", {"recipientId": alice.id, "content": "mine", "tempId": "temp-42"})
    assert (await b.wait("message:sent"))["id"] != first["id"]


async def test_burst_is_stored_and_confirmed_in_order(client, connect):
    alice, bob = await make_user(client), await make_user(client)
    a = await connect(alice)
    for i in range(30):
        await a.emit("message:send", {"recipientId": bob.id, "content": f"m{i}", "tempId": f"t{i}"})
    confirmations = await a.wait_count("message:sent", 30)
    assert [c["tempId"] for c in confirmations] == [f"t{i}" for i in range(30)]
    rows = await _pool(client).fetch(
        "SELECT content FROM messages WHERE sender_id = $1 ORDER BY created_at, id",
        __import__("uuid").UUID(alice.id),
    )
    assert [r["content"] for r in rows] == [f"m{i}" for i in range(30)]


async def test_burst_mixing_online_and_offline_recipients_keeps_its_order(client, connect):
    """Sends to a user connected here are answered from the group commit without a
    task; sends to anyone else await presence in the socket's task. Interleaved, they
    are still stored and confirmed in the order they arrived."""
    alice, bob, carol = [await make_user(client) for _ in range(3)]
    a, b = await connect(alice), await connect(bob)  # carol stays offline
    for i in range(24):
        to = bob if i % 3 else carol
        await a.emit("message:send", {"recipientId": to.id, "content": f"m{i}", "tempId": f"t{i}"})
    confirmations = await a.wait_count("message:sent", 24)
    assert [c["tempId"] for c in confirmations] == [f"t{i}" for i in range(24)]
    assert [c["status"] for c in confirmations[:3]] == ["sent", "sent", "sent"]  # requests
    received = await b.wait_count("message:received", 16)
    assert [m["content"] for m in received] == [f"m{i}" for i in range(24) if i % 3]
    rows = await _pool(client).fetch(
        "SELECT content FROM messages WHERE sender_id = $1 ORDER BY created_at, id",
        __import__("uuid").UUID(alice.id),
    )
    assert [r["content"] for r in rows] == [f"m{i}" for i in range(24)]


async def test_concurrent_first_messages_from_two_tabs_all_delivered(client, connect):
    alice, bob = await make_user(client), await make_user(client)
    tabs = [await connect(alice) for _ in range(3)]
    b = await connect(bob)
    await asyncio.gather(
        *(
            tab.emit(
                "message:send", {"recipientId": bob.id, "content": f"tab{i}", "tempId": f"x{i}"}
            )
            for i, tab in enumerate(tabs)
        )
    )
    for tab in tabs:
        await tab.wait("message:sent", index=0)
    received = await b.wait_count("message:received", 3)
    assert {m["content"] for m in received} == {"tab0", "tab1", "tab2"}
    assert len({m["conversationId"] for m in received}) == 1


async def test_bad_payloads_get_errors_and_keep_the_connection(client, connect):
    alice, bob = await make_user(client), await make_user(client)
    a = await connect(alice)
    cases = [
        ({"recipientId": bob.id, "content": "   "}, "Message content is required"),
        ({"content": "hi"}, "Recipient ID is required"),
        ({"recipientId": "not-a-uuid", "content": "hi"}, "Invalid payload"),
        ({"recipientId": bob.id, "content": 5}, "Invalid payload"),
        ("just a string", "Invalid payload"),
        ({"recipientId": bob.id, "content": "hi", "type": "virus"}, "Invalid payload"),
        ({"recipientId": bob.id, "content": "hi", "waveform": "loud"}, "Invalid payload"),
        (
            {"recipientId": bob.id, "content": "hi", "fileUrl": "https://evil.example/x"},
            "Invalid file URL",
        ),
        (
            {"recipientId": "00000000-0000-4000-8000-000000000000", "content": "hi"},
            "Recipient not found",
        ),
        (
            {
                "recipientId": bob.id,
                "content": "hi",
                "messageId": "00000000-0000-4000-8000-000000000000",
            },
            "Message not found",
        ),
    ]
    for payload, message in cases:
        await a.emit("message:send", payload)
        assert await a.wait("error") == {"message": message}, payload
    count = await _pool(client).fetchval(
        "SELECT count(*) FROM messages WHERE sender_id = $1", __import__("uuid").UUID(alice.id)
    )
    assert count == 0
    await a.emit("message:send", {"recipientId": bob.id, "content": "still here"})
    assert (await a.wait("message:sent"))["content"] == "still here"


async def test_read_receipts_only_from_the_recipient(client, connect):
    alice, bob, eve = await make_user(client), await make_user(client), await make_user(client)
    a, b, e = await connect(alice), await connect(bob), await connect(eve)
    await a.emit("message:send", {"recipientId": bob.id, "content": "one"})
    msg = await a.wait("message:sent")
    await b.emit("message:send", {"recipientId": alice.id, "content": "accept"})  # accepts
    await a.wait("conversation:accepted")
    await e.emit("message:read", msg["id"])  # not eve's message
    await settle(e, a)
    assert a.events["message:status"] == []
    await b.emit("message:received", msg["id"])
    status = await a.wait("message:status")
    assert status["messageId"] == msg["id"] and status["status"] == "delivered"
    await b.emit("message:read", {"messageId": msg["id"], "senderId": alice.id})  # widget form
    status = await a.wait("message:status")
    assert status["status"] == "read"
    row = await _pool(client).fetchrow(
        "SELECT status, is_read, read_at FROM messages WHERE id = $1",
        __import__("uuid").UUID(msg["id"]),
    )
    assert row["status"] == "read" and row["is_read"] and row["read_at"] is not None
    # Never backwards: a late "received" does not downgrade.
    await b.emit("message:received", msg["id"])
    await settle(b)  # its handler has run
    assert (
        await _pool(client).fetchval(
            "SELECT status FROM messages WHERE id = $1", __import__("uuid").UUID(msg["id"])
        )
        == "read"
    )
    await b.emit("message:read", "nonsense")
    assert await b.wait("error") == {"message": "Invalid payload"}


async def test_blocked_sender_gets_message_blocked(client, connect):
    alice, bob = await make_user(client), await make_user(client)
    await _pool(client).execute(
        "INSERT INTO friendships (requester_id, addressee_id, status) VALUES ($1, $2, 'blocked')",
        __import__("uuid").UUID(bob.id),
        __import__("uuid").UUID(alice.id),
    )
    a, b = await connect(alice), await connect(bob)
    await a.emit("message:send", {"recipientId": bob.id, "content": "hi", "tempId": "temp-9"})
    assert await a.wait("message:blocked") == {
        "recipientId": bob.id,
        "tempId": "temp-9",
        "reason": "Could not deliver — you're blocked",
    }
    await b.emit("message:send", {"recipientId": alice.id, "content": "hi"})
    assert (await b.wait("message:blocked"))["reason"] == "You have blocked this user"


async def test_offline_recipient_finds_message_stored(client, connect):
    alice, bob = await make_user(client), await make_user(client)
    a = await connect(alice)
    await a.emit("message:send", {"recipientId": bob.id, "content": "while you were out"})
    sent = await a.wait("message:sent")
    assert sent["status"] == "sent"
    row = await _pool(client).fetchrow(
        "SELECT content, recipient_id FROM messages WHERE id = $1",
        __import__("uuid").UUID(sent["id"]),
    )
    assert row["content"] == "while you were out" and str(row["recipient_id"]) == bob.id


async def test_batched_sends_share_one_statement_correctly(client):
    """Two first messages of a new pair and a repeated temp id inside one batch."""
    from chatr_server.repos.messaging import MessagingRepo

    alice, bob = await make_user(client), await make_user(client)
    services = client.app[SERVICES]
    repo = MessagingRepo(services.queries)

    def args(content, temp_id, sender=alice, recipient=bob):
        return dm_args(sender.id, recipient.id, content, temp_id)

    rows = await repo.send_dm_batch(
        services.pool,
        [args("a", "t1"), args("b", "t2"), args("a again", "t1"), args("c", "t3", bob, alice)],
    )
    assert [r["outcome"] for r in rows] == ["created", "created", "duplicate", "created"]
    assert rows[2]["id"] == rows[0]["id"]
    assert len({r["conversation_id"] for r in rows}) == 1
    assert rows[3]["accepted_now"] is True  # bob replied inside the same batch
    assert rows[0]["created_at"] < rows[1]["created_at"] < rows[3]["created_at"]

    # The service's batch: plain sends on the now accepted pair take the set-based
    # statement; everything else falls back to chatr_send_dm, results in input order.
    carol, dave = await make_user(client), await make_user(client)
    await services.pool.execute(
        "INSERT INTO friendships (requester_id, addressee_id, status) VALUES ($1, $2, 'blocked')",
        carol.id,
        alice.id,
    )
    reply = list(args("re: a", "t6"))
    reply[11] = rows[0]["id"]
    reply[8] = [0.1, 0.5, 0.9]  # a list inside the batch must stay one value
    messaging = services.messaging
    batch = [
        args("plain 1", "t4"),  # accepted pair: set-based
        args("to carol", "t5", alice, carol),  # blocked by carol
        tuple(reply),  # a reply: the function path
        args("plain 2", "t4"),  # same temp id as the first row of this batch
        args("first to dave", "t7", alice, dave),  # no conversation yet
        args("plain 1 resent", "t2"),  # temp id stored by an earlier batch
        args("plain 3", None, bob, alice),  # no temp id
    ]
    out = await messaging._store_dm_batch(batch)
    assert [r["outcome"] for r in out] == [
        "created",
        "blocked",
        "created",
        "duplicate",
        "created",
        "duplicate",
        "created",
    ]
    assert str(out[1]["blocked_by"]) == carol.id
    assert out[2]["reply_to_id"] == rows[0]["id"] and out[2]["reply_to_content"] == "a"
    assert out[2]["audio_waveform"] == [0.1, 0.5, 0.9]
    assert out[3]["id"] == out[0]["id"] and out[3]["content"] == "plain 1"
    assert out[4]["conversation_status"] == "pending"
    assert out[5]["id"] == rows[1]["id"]
    assert out[6]["sender_id"] == out[0]["recipient_id"]
    # The first row came from the set-based statement (it carries its position `n`)
    # and has the function's shape otherwise: the presenters read either.
    assert out[0]["n"] == 1
    assert set(out[0].keys()) - {"n"} == set(out[2].keys())
    stored = await services.pool.fetch(
        "SELECT content FROM messages WHERE sender_id = $1 AND temp_id = 't4'", alice.id
    )
    assert [r["content"] for r in stored] == ["plain 1"]


async def test_lone_writes_take_the_statement_their_pair_is_known_for(client):
    """A lone write of a pair not known to be accepted runs ``chatr_send_dm`` (its row
    has no position ``n``); once a result names the pair's conversation accepted,
    either direction takes the set-based statement. A stale hint changes the
    statement, never the answer."""
    alice, bob = await make_user(client), await make_user(client)
    services = client.app[SERVICES]
    messaging = services.messaging

    async def lone(sender, recipient, content, temp_id):
        return (
            await messaging._store_dm_batch([dm_args(sender.id, recipient.id, content, temp_id)])
        )[0]

    first = await lone(alice, bob, "hi", "k1")
    assert "n" not in first.keys()
    assert first["outcome"] == "created" and first["conversation_status"] == "pending"
    assert dm_args(alice.id, bob.id, "", None) not in messaging._accepted
    reply = await lone(bob, alice, "hey", "k2")  # accepts the request: learned
    assert "n" not in reply.keys() and reply["accepted_now"] is True
    assert dm_args(alice.id, bob.id, "", None) in messaging._accepted

    again = await lone(alice, bob, "again", "k3")
    assert again["n"] == 1
    assert again["outcome"] == "created" and again["conversation_status"] == "accepted"
    assert again["conversation_id"] == first["conversation_id"]

    # Stale: bob blocks alice, then the conversation goes; the pair is still known.
    await services.pool.execute(
        "INSERT INTO friendships (requester_id, addressee_id, status) VALUES ($1, $2, 'blocked')",
        bob.id,
        alice.id,
    )
    blocked = await lone(alice, bob, "blocked?", "k4")
    assert blocked["outcome"] == "blocked" and str(blocked["blocked_by"]) == bob.id
    await services.pool.execute(
        "DELETE FROM friendships WHERE requester_id = $1 AND addressee_id = $2", bob.id, alice.id
    )
    await services.pool.execute("DELETE FROM conversations WHERE id = $1", first["conversation_id"])
    reopened = await lone(alice, bob, "new start", "k5")
    assert reopened["outcome"] == "created" and reopened["conversation_status"] == "pending"
    assert reopened["conversation_id"] != first["conversation_id"]
    stored = await services.pool.fetch(
        "SELECT temp_id FROM messages WHERE sender_id = $1 ORDER BY created_at", alice.id
    )
    assert [r["temp_id"] for r in stored] == ["k1", "k3", "k5"]


def test_known_pairs_are_unordered_and_bounded():
    from chatr_server.services.messaging import AcceptedPairs

    pairs = AcceptedPairs(limit=3)
    rows = [dm_args(f"s{i}", f"r{i}", "x", None) for i in range(3)]
    results = [{"conversation_status": s} for s in ("accepted", "pending", "accepted")]
    pairs.learn(rows[:2], results[:2])
    assert rows[0] in pairs and dm_args("r0", "s0", "y", None) in pairs
    assert rows[1] not in pairs and rows[2] not in pairs
    pairs.learn(rows[2:], results[2:])
    assert rows[2] in pairs
    accepted = [{"conversation_status": "accepted"}]
    pairs.learn([dm_args("s9", "r9", "x", None)], accepted)
    assert rows[0] in pairs and dm_args("s9", "r9", "", None) in pairs
    # Full (three keys): emptied before the next one is learned.
    pairs.learn([dm_args("s8", "r8", "x", None)], accepted)
    assert dm_args("s8", "r8", "", None) in pairs
    assert not any(r in pairs for r in rows) and dm_args("s9", "r9", "", None) not in pairs


async def test_full_write_queue_sheds_sends_with_a_clear_error(client, connect):
    """Over capacity a send is refused at once (error event) and nothing is stored."""
    from chatr_server.services.group_commit import BUSY_MESSAGE

    alice, bob = await make_user(client), await make_user(client)
    a = await connect(alice)
    writes = client.app[SERVICES].messaging._dm_writes
    writes._max_pending = 0  # as if the queue were full
    await a.emit("message:send", {"recipientId": bob.id, "content": "x", "tempId": "busy-1"})
    assert await a.wait("error") == {"message": BUSY_MESSAGE}
    stored = "SELECT count(*) FROM messages WHERE sender_id = $1"
    assert await _pool(client).fetchval(stored, alice.id) == 0
    writes._max_pending = 100
    await a.emit("message:send", {"recipientId": bob.id, "content": "x", "tempId": "busy-1"})
    assert (await a.wait("message:sent"))["tempId"] == "busy-1"
