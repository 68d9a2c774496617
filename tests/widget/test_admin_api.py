"""``/api/admin/*``: the support inbox (rest.md §10)."""

from __future__ import annotations

import re
import uuid

import pytest

from chatr_server.services.auth import GUEST_REFUSED
from tests.helpers import TestUser, make_user
from tests.widget.helpers import bearer, make_agent, pool, start_guest

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ROUTES = [
    ("GET", "/api/admin/widget-contacts"),
    ("GET", "/api/admin/widget-contacts/{guest}/messages"),
    ("DELETE", "/api/admin/widget-contacts/{guest}"),
    ("POST", "/api/admin/widget-contacts/{guest}/reply"),
]


async def _call(client, method, path, headers=None, json=None):
    return await client.request(method, path, headers=headers or {}, json=json)


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_admin_routes_need_a_token(client, agent, method, path):
    guest = await start_guest(client)
    resp = await _call(client, method, path.format(guest=guest["guestId"]))
    assert resp.status == 401
    assert await resp.json() == {"error": "Access token required"}


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_admin_routes_refuse_non_agents(client, agent, method, path):
    guest = await start_guest(client)
    user = await make_user(client)
    url = path.format(guest=guest["guestId"])
    for headers, error in (
        (user.auth, "Support access required"),
        (bearer(guest["token"]), GUEST_REFUSED),  # SEC-23: guest tokens stop earlier
    ):
        resp = await _call(client, method, url, headers=headers, json={"content": "x"})
        assert resp.status == 403
        assert await resp.json() == {"error": error}
    # Nothing happened to the guest.
    assert await pool(client).fetchval("SELECT count(*) FROM users WHERE id = $1", guest["guestId"])


async def test_contacts_lists_guests_newest_first_with_counts(client, agent):
    quiet = await start_guest(client, guestName="Quiet", contactEmail="q@example.com")
    chatty = await start_guest(client, guestName="Chatty")
    async with pool(client).acquire() as conn:
        await conn.execute(
            "INSERT INTO messages (sender_id, recipient_id, content, created_at)"
            " VALUES ($1, $2, 'first!', now() - interval '5 minutes'),"
            "        ($1, $2, 'second', now() - interval '4 minutes'),"
            "        ($2, $1, 'hello', now() - interval '3 minutes')",
            chatty["guestId"],
            agent.id,
        )
    resp = await client.get("/api/admin/widget-contacts", headers=agent.auth)
    assert resp.status == 200
    contacts = await resp.json()
    assert isinstance(contacts, list)
    ids = [c["id"] for c in contacts]
    assert ids.index(chatty["guestId"]) < ids.index(quiet["guestId"])
    by_id = {c["id"]: c for c in contacts}
    c = by_id[chatty["guestId"]]
    assert set(c) == {
        "id",
        "name",
        "contactEmail",
        "createdAt",
        "hasConversation",
        "totalMessages",
        "firstMessage",
    }
    assert c["name"] == "Chatty"
    assert c["totalMessages"] == 3 and c["hasConversation"] is True
    assert c["firstMessage"]["content"] == "first!"
    assert TS.match(c["firstMessage"]["createdAt"]) and TS.match(c["createdAt"])
    q = by_id[quiet["guestId"]]
    assert q["contactEmail"] == "q@example.com"
    assert q["totalMessages"] == 0 and q["hasConversation"] is False
    assert q["firstMessage"] is None
    # Regular users are not contacts.
    assert agent.id not in by_id


async def test_guest_messages_shape_and_unsent_text_hidden(client, agent):
    guest = await start_guest(client, guestName="Gia", context={"lang": "it"})
    async with pool(client).acquire() as conn:
        await conn.execute(
            "INSERT INTO messages (sender_id, recipient_id, content, created_at)"
            " VALUES ($1, $2, 'ciao', now() - interval '2 minutes')",
            guest["guestId"],
            agent.id,
        )
        await conn.execute(
            "INSERT INTO messages (sender_id, recipient_id, content, deleted_at)"
            " VALUES ($1, $2, 'oops secret', now())",
            guest["guestId"],
            agent.id,
        )
    url = f"/api/admin/widget-contacts/{guest['guestId']}/messages"
    resp = await client.get(url, headers=agent.auth)
    assert resp.status == 200
    body = await resp.json()
    assert body["guest"] == {
        "id": guest["guestId"],
        "displayName": "Gia",
        "contactEmail": None,
        "widgetContext": {"lang": "it"},
    }
    first, second = body["messages"]
    assert first["content"] == "ciao"
    assert second["content"] == ""
    assert set(first) == {
        "id",
        "content",
        "type",
        "senderId",
        "recipientId",
        "createdAt",
        "sender",
    }
    assert first["sender"] == {"displayName": "Gia", "isGuest": True, "isSupport": False}


@pytest.mark.parametrize("suffix", ["messages", None])
async def test_unknown_guest_is_404(client, agent, suffix):
    user = await make_user(client)
    for guest_id in (str(uuid.uuid4()), "not-a-uuid", user.id):
        url = f"/api/admin/widget-contacts/{guest_id}" + (f"/{suffix}" if suffix else "")
        method = "GET" if suffix else "DELETE"
        resp = await _call(client, method, url, headers=agent.auth)
        assert resp.status == 404
        assert await resp.json() == {"error": "Guest not found"}
    # A regular account is never deleted through the inbox.
    assert await pool(client).fetchval("SELECT count(*) FROM users WHERE id = $1", user.id)


async def test_delete_guest_removes_messages_and_conversations(client, agent):
    guest = await start_guest(client)
    gid = guest["guestId"]
    async with pool(client).acquire() as conn:
        await conn.execute("SELECT chatr_dm_conversation($1, $2)", gid, agent.id)
        await conn.execute(
            "INSERT INTO messages (sender_id, recipient_id, content) VALUES ($1, $2, 'x')",
            gid,
            agent.id,
        )
    resp = await client.delete(f"/api/admin/widget-contacts/{gid}", headers=agent.auth)
    assert resp.status == 200
    assert await resp.json() == {"success": True}
    async with pool(client).acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM users WHERE id = $1", gid) == 0
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM messages WHERE $1 IN (sender_id, recipient_id)", gid
            )
            == 0
        )
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM conversations WHERE $1 IN (participant_a, participant_b)",
                gid,
            )
            == 0
        )
    resp = await client.delete(f"/api/admin/widget-contacts/{gid}", headers=agent.auth)
    assert resp.status == 404


@pytest.mark.parametrize("body", [{}, {"content": ""}, {"content": "   "}, {"content": 5}])
async def test_reply_requires_content(client, agent, body):
    guest = await start_guest(client)
    resp = await client.post(
        f"/api/admin/widget-contacts/{guest['guestId']}/reply", json=body, headers=agent.auth
    )
    assert resp.status == 400
    assert await resp.json() == {"error": "Message content is required"}


async def test_reply_to_unknown_guest_is_404(client, agent):
    resp = await client.post(
        f"/api/admin/widget-contacts/{uuid.uuid4()}/reply",
        json={"content": "hi"},
        headers=agent.auth,
    )
    assert resp.status == 404
    assert await resp.json() == {"error": "Guest not found"}


async def test_reply_creates_sorted_accepted_conversation_and_reaches_guest(client, agent, connect):
    guest = await start_guest(client, guestName="Hal")
    gid = guest["guestId"]
    live = await connect(TestUser(gid, "", "", guest["token"]))
    resp = await client.post(
        f"/api/admin/widget-contacts/{gid}/reply",
        json={"content": " How can I help? "},
        headers=agent.auth,
    )
    assert resp.status == 200
    message = (await resp.json())["message"]
    assert set(message) == {
        "id",
        "senderId",
        "recipientId",
        "content",
        "type",
        "createdAt",
        "sender",
    }
    assert message["senderId"] == agent.id and message["recipientId"] == gid
    assert message["content"] == "How can I help?" and message["type"] == "text"
    assert message["sender"] == {"displayName": "Test User", "isGuest": False, "isSupport": True}
    assert await live.wait("message:received") == message
    conv = await pool(client).fetchrow(
        "SELECT * FROM conversations WHERE $1 IN (participant_a, participant_b)", gid
    )
    assert conv["status"] == "accepted"
    assert str(conv["participant_a"]) == min(gid, agent.id)
    assert str(conv["participant_b"]) == max(gid, agent.id)
    assert str(conv["initiator_id"]) == agent.id


async def test_reply_accepts_the_guests_pending_request(client, agent):
    guest = await start_guest(client)
    gid = guest["guestId"]
    # The guest's first DM opened a pending request (as message:send does).
    conv_id = await pool(client).fetchval(
        "SELECT (chatr_dm_conversation($1, $2)).id", gid, agent.id
    )
    assert (
        await pool(client).fetchval("SELECT status FROM conversations WHERE id = $1", conv_id)
        == "pending"
    )
    resp = await client.post(
        f"/api/admin/widget-contacts/{gid}/reply", json={"content": "hi"}, headers=agent.auth
    )
    assert resp.status == 200
    row = await pool(client).fetchrow("SELECT * FROM conversations WHERE id = $1", conv_id)
    assert row["status"] == "accepted" and str(row["initiator_id"]) == gid
    count = await pool(client).fetchval(
        "SELECT count(*) FROM conversations WHERE $1 IN (participant_a, participant_b)", gid
    )
    assert count == 1


async def test_a_second_support_account_cannot_see_inbox_after_demotion(client):
    first = await make_agent(client)
    second = await make_agent(client)  # clears the flag on the first
    resp = await client.get("/api/admin/widget-contacts", headers=first.auth)
    assert resp.status == 403
    resp = await client.get("/api/admin/widget-contacts", headers=second.auth)
    assert resp.status == 200
