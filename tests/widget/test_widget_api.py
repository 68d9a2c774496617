"""``/api/widget/*`` against the real app (rest.md §9, behaviors.md §14, SEC-15)."""

from __future__ import annotations

import re
import secrets
import time

import jwt
import pytest

from chatr_server.appkeys import SERVICES
from tests.helpers import TestUser, make_user
from tests.widget.helpers import bearer, clear_agents, make_agent, pool, start_guest

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _guest_user(session: dict) -> TestUser:
    return TestUser(session["guestId"], "", "", session["token"])


# ---- support-agent ---------------------------------------------------------------------


async def test_support_agent_404_without_agent(client):
    await clear_agents(client)
    resp = await client.get("/api/widget/support-agent")
    assert resp.status == 404
    assert await resp.json() == {"error": "No support agent configured"}


async def test_support_agent_shape_and_live_online_flag(client, connect):
    agent = await make_agent(client)
    resp = await client.get("/api/widget/support-agent")
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    body = await resp.json()
    assert body == {
        "id": agent.id,
        "displayName": "Test User",
        "username": agent.username,
        "profileImage": None,
        "online": False,
    }
    await connect(agent)
    body = await (await client.get("/api/widget/support-agent")).json()
    assert body["online"] is True


async def test_support_agent_needs_verified_email(client):
    agent = await make_agent(client)
    await pool(client).execute("UPDATE users SET email_verified = false WHERE id = $1", agent.id)
    resp = await client.get("/api/widget/support-agent")
    assert resp.status == 404


async def test_widget_preflight_allows_any_origin(client):
    resp = await client.options(
        "/api/widget/guest-session",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in resp.headers


# ---- guest-session ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [{}, {"guestName": "   "}, {"guestName": None}, {"guestName": 42}, {"guestName": ["a"]}],
)
async def test_guest_session_requires_a_name(client, agent, body):
    resp = await client.post("/api/widget/guest-session", json=body)
    assert resp.status == 400
    assert await resp.json() == {"error": "guestName is required"}


async def test_guest_session_malformed_json_is_400(client, agent):
    resp = await client.post(
        "/api/widget/guest-session", data=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400


async def test_guest_session_503_without_agent(client, server_errors):
    await clear_agents(client)
    resp = await client.post("/api/widget/guest-session", json={"guestName": "Ann"})
    assert resp.status == 503
    assert await resp.json() == {"error": "Support is currently unavailable"}
    # A server-side condition (no agent / provider down), not bad input.
    server_errors.clear()


async def test_guest_session_creates_a_guest_user(client, agent):
    settings = client.app[SERVICES].settings
    name = "  " + "N" * 80 + "  "
    data = await start_guest(
        client,
        guestName=name,
        contactEmail="  " + "e" * 300 + "@x.io ",
        context={"url": "https://shop.example/p?q=1", "screen": {"w": 1920, "h": 1080}},
    )
    assert set(data) == {"token", "guestId", "guestName", "supportAgentId", "resumeToken"}
    assert data["guestName"] == "N" * 60
    assert data["supportAgentId"] == agent.id
    claims = jwt.decode(data["token"], settings.jwt_secret, algorithms=["HS256"])
    assert set(claims) == {"userId", "iat", "exp"}
    assert claims["userId"] == data["guestId"]
    assert claims["exp"] - claims["iat"] == 24 * 3600
    row = await pool(client).fetchrow("SELECT * FROM users WHERE id = $1", data["guestId"])
    assert row["is_guest"] and row["email_verified"] and not row["is_support"]
    assert row["privacy_online_status"] == "nobody"
    assert row["email"] is None
    assert row["contact_email"] == ("e" * 300 + "@x.io")[:255]
    assert row["widget_context"] == {
        "url": "https://shop.example/p?q=1",
        "screen": {"w": 1920, "h": 1080},
    }
    assert re.fullmatch(r"@widget_\d{13}_[0-9a-z]{6}", row["username"])
    assert abs(int(row["username"].split("_")[1]) - time.time() * 1000) < 60_000
    # The guest can never log in with a password.
    assert not row["password_hash"].startswith("$2")
    resp = await client.post(
        "/api/auth/login", json={"email": row["username"], "password": row["password_hash"]}
    )
    assert resp.status != 200


async def test_guest_token_authenticates_history(client, agent):
    data = await start_guest(client)
    resp = await client.get("/api/widget/history", headers=bearer(data["token"]))
    assert resp.status == 200
    assert await resp.json() == {"messages": []}


async def test_resume_with_resume_token_keeps_the_guest(client, agent):
    first = await start_guest(client, guestName="Ann", context={"lang": "en"})
    again = await start_guest(
        client,
        guestName="Ann B",
        guestId=first["guestId"],
        resumeToken=first["resumeToken"],
        contactEmail="ann@example.com",
    )
    assert again["guestId"] == first["guestId"]
    assert again["guestName"] == "Ann B"
    assert again["resumeToken"] == first["resumeToken"]
    row = await pool(client).fetchrow(
        "SELECT display_name, contact_email, widget_context FROM users WHERE id = $1",
        first["guestId"],
    )
    assert row["display_name"] == "Ann B"
    assert row["contact_email"] == "ann@example.com"
    assert row["widget_context"] == {"lang": "en"}  # absent context keeps the stored one


async def test_resume_with_the_guests_own_jwt(client, agent):
    first = await start_guest(client, guestName="Ann")
    resp = await client.post(
        "/api/widget/guest-session",
        json={"guestName": "Ann", "guestId": first["guestId"]},
        headers=bearer(first["token"]),
    )
    assert (await resp.json())["guestId"] == first["guestId"]


async def test_guest_id_alone_does_not_resume(client, agent):
    """SEC-15: knowing a guestId is not enough; the caller gets a new guest instead."""
    victim = await start_guest(client, guestName="Victim")
    attacker = await start_guest(client, guestName="Mallory", guestId=victim["guestId"])
    assert attacker["guestId"] != victim["guestId"]
    name = await pool(client).fetchval(
        "SELECT display_name FROM users WHERE id = $1", victim["guestId"]
    )
    assert name == "Victim"


async def test_guest_a_cannot_resume_guest_b(client, agent):
    a = await start_guest(client, guestName="A")
    b = await start_guest(client, guestName="B")
    # A's token and A's resume secret are no proof for B.
    resp = await client.post(
        "/api/widget/guest-session",
        json={"guestName": "A", "guestId": b["guestId"], "resumeToken": a["resumeToken"]},
        headers=bearer(a["token"]),
    )
    data = await resp.json()
    assert data["guestId"] not in (a["guestId"], b["guestId"])


async def test_wrong_or_malformed_resume_token_starts_new_guest(client, agent):
    first = await start_guest(client)
    for token in ("x" * 43, 12345, "", "y" * 5000):
        data = await start_guest(client, guestId=first["guestId"], resumeToken=token)
        assert data["guestId"] != first["guestId"]
    # A garbage bearer token is ignored, not an error, on this public route.
    resp = await client.post(
        "/api/widget/guest-session",
        json={"guestName": "Z", "guestId": first["guestId"]},
        headers={"Authorization": "Bearer not.a.jwt"},
    )
    assert resp.status == 200
    assert (await resp.json())["guestId"] != first["guestId"]


async def test_a_regular_user_cannot_be_resumed_as_guest(client, agent):
    user = await make_user(client)
    data = await start_guest(client, guestId=user.id)
    assert data["guestId"] != user.id
    resp = await client.post(
        "/api/widget/guest-session",
        json={"guestName": "x", "guestId": user.id},
        headers=user.auth,
    )
    assert (await resp.json())["guestId"] != user.id


@pytest.mark.parametrize("guest_id", [123, ["a"], {"a": 1}])
async def test_guest_id_must_be_a_string(client, agent, guest_id):
    resp = await client.post(
        "/api/widget/guest-session", json={"guestName": "A", "guestId": guest_id}
    )
    assert resp.status == 400


async def test_unknown_or_non_uuid_guest_id_starts_new_guest(client, agent):
    for guest_id in ("not-a-uuid", "3f2b5a4e-1111-4222-8333-444455556666"):
        data = await start_guest(client, guestId=guest_id, resumeToken="abc")
        assert data["guestId"] != guest_id


@pytest.mark.parametrize(
    "context",
    [
        "a string",
        ["a", "list"],
        42,
        {"deep": {"deeper": {"deepest": 1}}},
        {"list": [1, 2, 3]},
        {f"k{i}": i for i in range(40)},
        {"k" * 100: 1},
        {"": 1},
        {f"k{i}": "v" * 2000 for i in range(10)},
    ],
)
async def test_context_shape_and_size_are_bounded(client, agent, context):
    resp = await client.post(
        "/api/widget/guest-session", json={"guestName": "A", "context": context}
    )
    assert resp.status == 400
    assert "context" in (await resp.json())["error"]


async def test_long_context_strings_are_truncated(client, agent):
    data = await start_guest(client, context={"url": "https://x.example/?" + "q" * 5000})
    stored = await pool(client).fetchval(
        "SELECT widget_context FROM users WHERE id = $1", data["guestId"]
    )
    assert len(stored["url"]) == 2048


async def test_contact_email_must_be_a_string(client, agent):
    resp = await client.post(
        "/api/widget/guest-session", json={"guestName": "A", "contactEmail": {"x": 1}}
    )
    assert resp.status == 400


# ---- history ---------------------------------------------------------------------------


async def test_history_requires_a_token(client):
    resp = await client.get("/api/widget/history")
    assert resp.status == 401
    assert await resp.json() == {"error": "Access token required"}
    resp = await client.get("/api/widget/history", headers=bearer("garbage"))
    assert resp.status == 403


async def test_history_refuses_regular_users(client, agent):
    user = await make_user(client)
    resp = await client.get("/api/widget/history", headers=user.auth)
    assert resp.status == 403
    assert await resp.json() == {"error": "Not a guest session"}


async def test_history_is_empty_without_agent(client, agent):
    data = await start_guest(client)
    await clear_agents(client)
    resp = await client.get("/api/widget/history", headers=bearer(data["token"]))
    assert await resp.json() == {"messages": []}


async def test_history_lists_oldest_first_without_system_or_unsent(client, agent):
    data = await start_guest(client)
    guest = data["guestId"]
    async with pool(client).acquire() as conn:
        for i in range(3):
            await conn.execute(
                "INSERT INTO messages (sender_id, recipient_id, content) VALUES ($1, $2, $3)",
                guest if i % 2 == 0 else agent.id,
                agent.id if i % 2 == 0 else guest,
                f"m{i}",
            )
        await conn.execute(
            "INSERT INTO messages (sender_id, recipient_id, content, deleted_at)"
            " VALUES ($1, $2, 'secret unsent text', now())",
            agent.id,
            guest,
        )
        await conn.execute(
            "INSERT INTO messages (sender_id, recipient_id, content, type)"
            " VALUES ($1, $2, 'x has left the chat.', 'system')",
            guest,
            agent.id,
        )
        other = await make_user(client)
        await conn.execute(
            "INSERT INTO messages (sender_id, recipient_id, content) VALUES ($1, $2, 'other')",
            other.id,
            guest,
        )
    resp = await client.get("/api/widget/history", headers=bearer(data["token"]))
    messages = (await resp.json())["messages"]
    assert [m["content"] for m in messages] == ["m0", "m1", "m2"]
    first = messages[0]
    assert set(first) == {
        "id",
        "senderId",
        "recipientId",
        "content",
        "type",
        "fileUrl",
        "fileName",
        "fileSize",
        "fileType",
        "audioWaveform",
        "audioDuration",
        "createdAt",
    }
    assert first["senderId"] == guest and first["recipientId"] == agent.id
    assert TS.match(first["createdAt"])


async def test_history_is_capped_at_100(client, agent):
    data = await start_guest(client)
    await pool(client).execute(
        "INSERT INTO messages (sender_id, recipient_id, content)"
        " SELECT $1, $2, 'n' || g FROM generate_series(1, 105) g",
        data["guestId"],
        agent.id,
    )
    resp = await client.get("/api/widget/history", headers=bearer(data["token"]))
    messages = (await resp.json())["messages"]
    assert len(messages) == 100


# ---- upload ----------------------------------------------------------------------------


def _form(data: bytes, filename: str = "photo.png", content_type: str = "image/png"):
    import aiohttp

    # Browsers send the file name as typed (no percent-encoding).
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("note", "ignored")
    form.add_field("file", data, filename=filename, content_type=content_type)
    return form


async def test_upload_requires_a_guest(client, agent):
    resp = await client.post("/api/widget/upload", data=_form(PNG))
    assert resp.status == 401
    user = await make_user(client)
    resp = await client.post("/api/widget/upload", data=_form(PNG), headers=user.auth)
    assert resp.status == 403
    assert await resp.json() == {"error": "Not a guest session"}


async def test_upload_without_file_is_400(client, agent):
    data = await start_guest(client)
    resp = await client.post("/api/widget/upload", json={"x": 1}, headers=bearer(data["token"]))
    assert resp.status == 400
    assert await resp.json() == {"error": "No file uploaded"}
    import aiohttp

    form = aiohttp.FormData()
    form.add_field("other", "value")
    resp = await client.post("/api/widget/upload", data=form, headers=bearer(data["token"]))
    assert resp.status == 400
    resp = await client.post("/api/widget/upload", data=_form(b""), headers=bearer(data["token"]))
    assert resp.status == 400


async def test_upload_refuses_disallowed_and_disguised_types(client, agent):
    data = await start_guest(client)
    headers = bearer(data["token"])
    resp = await client.post(
        "/api/widget/upload",
        data=_form(b"<html><script>alert(1)</script>", "x.html", "text/html"),
        headers=headers,
    )
    assert resp.status == 415
    # An executable pretending to be a PNG.
    resp = await client.post(
        "/api/widget/upload", data=_form(b"MZ\x90\x00" + b"\x00" * 100), headers=headers
    )
    assert resp.status == 415


async def test_upload_503_without_agent(client, agent, server_errors):
    data = await start_guest(client)
    await clear_agents(client)
    resp = await client.post("/api/widget/upload", data=_form(PNG), headers=bearer(data["token"]))
    assert resp.status == 503
    assert await resp.json() == {"error": "Support unavailable"}
    # A server-side condition (no agent / provider down), not bad input.
    server_errors.clear()


async def test_upload_stores_file_creates_message_and_notifies_agent(client, agent, connect):
    live = await connect(agent)
    data = await start_guest(client)
    resp = await client.post(
        "/api/widget/upload",
        data=_form(PNG, "../../etc/My Photo.PNG", "image/png; charset=binary"),
        headers=bearer(data["token"]),
    )
    assert resp.status == 200, await resp.text()
    message = (await resp.json())["message"]
    assert set(message) == {
        "id",
        "senderId",
        "recipientId",
        "content",
        "type",
        "fileUrl",
        "fileName",
        "fileSize",
        "fileType",
        "createdAt",
    }
    assert message["senderId"] == data["guestId"]
    assert message["recipientId"] == agent.id
    assert message["type"] == "image"
    assert message["fileType"] == "image/png"
    assert message["fileSize"] == len(PNG)
    assert message["fileName"] == "My Photo.PNG"
    assert re.fullmatch(
        r"/uploads/messages/widget-\d{13}-\d{1,9}\.png\?exp=\d+&sig=[\w-]{43}", message["fileUrl"]
    )
    assert message["content"] == message["fileUrl"]
    assert TS.match(message["createdAt"])
    key = message["fileUrl"].partition("?")[0].removeprefix("/uploads/")
    stored = client.app[SERVICES].storage.local_path(key)
    assert stored is not None and stored.read_bytes() == PNG
    received = await live.wait("message:received")
    assert received == message


async def test_upload_of_a_text_file_is_type_file(client, agent):
    data = await start_guest(client)
    resp = await client.post(
        "/api/widget/upload",
        data=_form(b"hello there\n", "notes.txt", "text/plain"),
        headers=bearer(data["token"]),
    )
    assert resp.status == 200
    assert (await resp.json())["message"]["type"] == "file"


# ---- offline-message -------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"guestName": "A"},
        {"message": "hi"},
        {"guestName": " ", "message": "hi"},
        {"guestName": "A", "message": "  "},
        {"guestName": 1, "message": "hi"},
        {"guestName": "A", "message": ["hi"]},
    ],
)
async def test_offline_message_requires_name_and_message(client, agent, body):
    resp = await client.post("/api/widget/offline-message", json=body)
    assert resp.status == 400
    assert await resp.json() == {"error": "Name and message are required"}


async def test_offline_message_is_bounded(client, agent):
    resp = await client.post(
        "/api/widget/offline-message", json={"guestName": "A", "message": "x" * 5001}
    )
    assert resp.status == 400
    resp = await client.post(
        "/api/widget/offline-message",
        json={"guestName": "A", "message": "hi", "context": ["bad"]},
    )
    assert resp.status == 400


async def test_offline_message_503_without_agent(client, server_errors):
    await clear_agents(client)
    resp = await client.post(
        "/api/widget/offline-message", json={"guestName": "A", "message": "hi"}
    )
    assert resp.status == 503
    assert await resp.json() == {"error": "Support is currently unavailable"}
    # A server-side condition (no agent / provider down), not bad input.
    server_errors.clear()


async def test_offline_message_creates_guest_conversation_and_notifies(client, agent, connect):
    live = await connect(agent)
    resp = await client.post(
        "/api/widget/offline-message",
        json={
            "guestName": " Bea ",
            "message": " Call me back ",
            "contactEmail": "bea@example.com",
            "context": {"page": "/pricing"},
        },
    )
    assert resp.status == 200
    assert await resp.json() == {"success": True}
    event = await live.wait("widget:offline-message")
    guest_id = event["guestId"]
    assert event == {
        "guestId": guest_id,
        "guestName": "Bea",
        "contactEmail": "bea@example.com",
        "message": "Call me back",
    }
    async with pool(client).acquire() as conn:
        guest = await conn.fetchrow("SELECT * FROM users WHERE id = $1", guest_id)
        assert guest["is_guest"] and guest["widget_context"] == {"page": "/pricing"}
        conv = await conn.fetchrow(
            "SELECT * FROM conversations WHERE $1 IN (participant_a, participant_b)", guest_id
        )
        assert conv["status"] == "accepted"
        assert str(conv["initiator_id"]) == guest_id
        assert str(conv["participant_a"]) < str(conv["participant_b"])
        assert {str(conv["participant_a"]), str(conv["participant_b"])} == {guest_id, agent.id}
        msg = await conn.fetchrow("SELECT * FROM messages WHERE sender_id = $1", guest_id)
        assert msg["content"] == "Call me back"
        assert str(msg["recipient_id"]) == agent.id and msg["type"] == "text"


# ---- end-chat --------------------------------------------------------------------------


async def test_end_chat_requires_a_guest(client, agent):
    resp = await client.post("/api/widget/end-chat")
    assert resp.status == 401
    user = await make_user(client)
    resp = await client.post("/api/widget/end-chat", headers=user.auth)
    assert resp.status == 403
    assert await resp.json() == {"error": "Not a guest session"}


async def test_end_chat_leaves_a_system_message_and_tells_the_agent(client, agent, connect):
    live = await connect(agent)
    data = await start_guest(client, guestName="Cleo")
    resp = await client.post("/api/widget/end-chat", headers=bearer(data["token"]))
    assert resp.status == 200
    assert await resp.json() == {"success": True}
    event = await live.wait("guest:left")
    assert event == {
        "guestId": data["guestId"],
        "guestName": "Cleo",
        "message": "Cleo has left the chat.",
    }
    row = await pool(client).fetchrow(
        "SELECT * FROM messages WHERE sender_id = $1", data["guestId"]
    )
    assert row["type"] == "system" and row["content"] == "Cleo has left the chat."
    assert await pool(client).fetchval("SELECT is_guest FROM users WHERE id = $1", data["guestId"])
    # The guest's own history does not show it.
    resp = await client.get("/api/widget/history", headers=bearer(data["token"]))
    assert (await resp.json())["messages"] == []


async def test_end_chat_without_agent_is_still_ok(client, agent):
    data = await start_guest(client)
    await clear_agents(client)
    resp = await client.post("/api/widget/end-chat", headers=bearer(data["token"]))
    assert resp.status == 200
    count = await pool(client).fetchval(
        "SELECT count(*) FROM messages WHERE sender_id = $1", data["guestId"]
    )
    assert count == 0


async def test_guest_chats_with_agent_over_the_socket(client, agent, connect):
    """The session's token works on the socket: the guest's DM reaches the agent."""
    data = await start_guest(client, guestName="Dan")
    agent_live = await connect(agent)
    guest_live = await connect(_guest_user(data))
    await guest_live.emit(
        "message:send", {"recipientId": agent.id, "content": "help!", "tempId": "temp_1"}
    )
    received = await agent_live.wait("message:received")
    assert received["senderId"] == data["guestId"]
    assert received["senderIsGuest"] is True


# ---- rate limits (SEC-15, SEC-18) ------------------------------------------------------


async def _limited_client(make_client):
    return await make_client(
        rate_limits_enabled=True, test_mode_allowed=False, trusted_proxy_hops=1
    )


async def test_guest_session_is_rate_limited_per_address(client, agent, make_client):
    limited = await _limited_client(make_client)
    ip = {"X-Forwarded-For": f"198.51.100.{secrets.randbelow(200) + 1}"}
    statuses = []
    for _ in range(21):
        resp = await limited.post(
            "/api/widget/guest-session", json={"guestName": "Spam"}, headers=ip
        )
        statuses.append(resp.status)
    assert statuses[:20] == [200] * 20
    assert statuses[20] == 429
    body = await resp.json()
    assert body["error"] == "Too many attempts. Please try again later."
    assert body["retryAfter"] > 0
    # Another address is unaffected.
    other = {"X-Forwarded-For": "203.0.113.77"}
    resp = await limited.post("/api/widget/guest-session", json={"guestName": "Ok"}, headers=other)
    assert resp.status == 200
    assert "X-RateLimit-Remaining" in resp.headers


async def test_offline_message_is_rate_limited_per_address(client, agent, make_client):
    limited = await _limited_client(make_client)
    ip = {"X-Forwarded-For": f"192.0.2.{secrets.randbelow(200) + 1}"}
    body = {"guestName": "Spam", "message": "buy now"}
    statuses = [
        (await limited.post("/api/widget/offline-message", json=body, headers=ip)).status
        for _ in range(6)
    ]
    assert statuses == [200] * 5 + [429]


# ---- guest clean-up --------------------------------------------------------------------


async def test_cleanup_deletes_only_old_guests_without_conversations(client, agent):
    widget = client.app[SERVICES].widget
    old_lonely = await start_guest(client, guestName="old lonely")
    old_talking = await start_guest(client, guestName="old talking")
    young = await start_guest(client, guestName="young")
    async with pool(client).acquire() as conn:
        await conn.execute(
            "UPDATE users SET created_at = now() - interval '61 minutes' WHERE id = ANY($1)",
            [old_lonely["guestId"], old_talking["guestId"]],
        )
        # The lonely one sent a message but never got a conversation row.
        await conn.execute(
            "INSERT INTO messages (sender_id, recipient_id, content) VALUES ($1, $2, 'hi')",
            old_lonely["guestId"],
            agent.id,
        )
        await conn.execute("SELECT chatr_dm_conversation($1, $2)", old_talking["guestId"], agent.id)
    deleted = await widget.cleanup_guests()
    assert deleted >= 1
    async with pool(client).acquire() as conn:
        ids = {
            str(r["id"])
            for r in await conn.fetch(
                "SELECT id FROM users WHERE id = ANY($1)",
                [old_lonely["guestId"], old_talking["guestId"], young["guestId"]],
            )
        }
        assert ids == {old_talking["guestId"], young["guestId"]}
        left = await conn.fetchval(
            "SELECT count(*) FROM messages WHERE sender_id = $1", old_lonely["guestId"]
        )
        assert left == 0
    assert await widget.cleanup_guests() == 0


async def test_cleanup_task_runs_in_background_and_stops(client):
    widget = client.app[SERVICES].widget
    assert widget._cleanup_task is not None and not widget._cleanup_task.done()
    await widget.stop_cleanup()
    assert widget._cleanup_task is None
    widget.start_cleanup(interval_s=3600)
    assert widget._cleanup_task is not None
