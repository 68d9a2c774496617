"""Handshake and connect sequence (events.md §2–3)."""

from __future__ import annotations

import pytest
import socketio

from tests.helpers import make_user


@pytest.mark.parametrize("transports", [["websocket"], ["polling"], ["polling", "websocket"]])
async def test_connect_sequence_emits_ready(client, connect, transports):
    user = await make_user(client)
    live = await connect(user, transports=transports)
    ready = live.events["socket:ready"][0]
    assert ready == {"userId": user.id}
    update = live.events["presence:update"][0]
    assert update == {"status": "online", "onlineUsers": []}


async def test_token_from_authorization_header(client, connect):
    user = await make_user(client)
    live = await connect(user, auth=None, headers={"Authorization": f"Bearer {user.token}"})
    assert live.events["socket:ready"][0]["userId"] == user.id


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        ({}, "Authentication error: No token provided"),
        ({"token": "garbage"}, "Authentication error: Invalid token"),
        ({"token": 12}, "Authentication error: No token provided"),
    ],
)
async def test_refusals_say_authentication_error(client, connect, auth, message):
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect(None, auth=auth, wait_ready=False)
    assert connect.last.events["connect_error"] == [{"message": message}]


async def test_deleted_user_and_revoked_token_are_refused(client, connect):
    gone = await make_user(client)
    await client.delete(f"/api/test/user/{gone.id}")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect(gone, wait_ready=False)
    assert connect.last.events["connect_error"] == [
        {"message": "Authentication error: User not found"}
    ]
    revoked = await make_user(client)
    await client.post("/api/auth/logout", headers=revoked.auth)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await connect(revoked, wait_ready=False)
    assert connect.last.events["connect_error"] == [
        {"message": "Authentication error: Invalid token"}
    ]


async def test_unknown_rpc_is_answered_at_once(client, connect):
    user = await make_user(client)
    live = await connect(user)
    assert await live.call("no:such:event", {"x": 1}, timeout=2) == {"error": "Not implemented"}
