"""The authorization matrix (issue 11): every id-taking REST operation and socket event,
replayed as (a) the rightful user, (b) an unrelated user, (c) a widget guest, (d) no token.

The attackers reuse the owner's ids on one world built once per module; after each
attempt the response (or everything the attacker's socket received) must hold none of
the owner's private markers, and the owner's rows must be unchanged. The rightful user
then replays the row (on a fresh world when the row destroys what it acts on). Each row
names the weakness it prevents; ``test_every_*_has_a_row`` fails when a route or event
taking an object id is added without one.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import pytest_asyncio
import socketio
from aiohttp.test_utils import TestClient, TestServer

from chatr_server.app import create_app
from chatr_server.appkeys import SERVICES
from chatr_server.chat.rpc import RPC
from tests.authz.world import World, build_world, make_current_agent, snapshot
from tests.live import LiveClient
from tests.oracle import watch_responses
from tests.widget.helpers import start_guest

# ---------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Row:
    key: str  # "GET /api/groups/{id}" as in openapi.json, or the socket event name
    call: Any  # REST: (method, url template, body); socket: payload template
    by: str  # who may: a user of the world ("a", "b", "p", "agent")
    ok: int | str  # the rightful outcome: a status, or "ok" / "error" for sockets
    denied: tuple[int, ...] | str  # the unrelated user's status(es), or "ok" / "error"
    prevents: str
    fresh: bool = False  # the rightful replay destroys its target: use a fresh world
    skip: str | None = None  # why the row is not replayed here (and where it is covered)


def rest(
    key: str,
    url: str,
    by: str,
    ok: int,
    denied: tuple[int, ...],
    prevents: str,
    body: Any = None,
    **kw: Any,
) -> Row:
    return Row(key, (key.split()[0], url, body), by, ok, denied, prevents, **kw)


def sock(event: str, payload: Any, by: str, ok: str, denied: str, prevents: str, **kw: Any) -> Row:
    return Row(event, payload, by, ok, denied, prevents, **kw)


G = "/api/groups/{gid}"
WAVE = {"waveform": [0.1, 0.5, 0.9]}
NO = (403,)
NO_OR_GONE = (403, 404)
OWN = (200,)  # allowed, but only ever on the caller's own data (the state check proves it)

REST_ROWS = [
    rest(
        "DELETE /api/admin/widget-contacts/{guestId}",
        "/api/admin/widget-contacts/{guest}",
        "agent",
        200,
        NO,
        "SEC-21: only the agent deletes a guest",
        fresh=True,
    ),
    rest(
        "GET /api/admin/widget-contacts/{guestId}/messages",
        "/api/admin/widget-contacts/{guest}/messages",
        "agent",
        200,
        NO,
        "issue 11 #1: the support thread stays the agent's",
    ),
    rest(
        "POST /api/admin/widget-contacts/{guestId}/reply",
        "/api/admin/widget-contacts/{guest}/reply",
        "agent",
        200,
        NO,
        "support replies only by the agent",
        {"content": "hello"},
    ),
    rest(
        "POST /api/conversations/nuke-by-user/{recipientId}",
        "/api/conversations/nuke-by-user/{guest}",
        "agent",
        200,
        OWN,
        "SEC-21 / issue 11 #1: a stranger's nuke deletes no guest",
        fresh=True,
    ),
    rest(
        "POST /api/conversations/{id}/accept",
        "/api/conversations/{conv}/accept",
        "a",
        200,
        NO,
        "participants only",
    ),
    rest(
        "POST /api/conversations/{id}/decline",
        "/api/conversations/{conv}/decline",
        "b",
        200,
        NO,
        "participants only",
        fresh=True,
    ),
    rest(
        "POST /api/conversations/{id}/nuke",
        "/api/conversations/{conv}/nuke",
        "a",
        200,
        NO,
        "participants only",
        fresh=True,
    ),
    rest(
        "DELETE /api/friends/{friendshipId}",
        "/api/friends/{fid_friend}",
        "a",
        200,
        NO_OR_GONE,
        "SEC-14: only the parties delete a friendship",
        fresh=True,
    ),
    rest(
        "POST /api/friends/{friendshipId}/accept",
        "/api/friends/{fid_pending}/accept",
        "a",
        200,
        NO_OR_GONE,
        "only the addressee accepts",
        fresh=True,
    ),
    rest(
        "POST /api/friends/{friendshipId}/decline",
        "/api/friends/{fid_pending}/decline",
        "a",
        200,
        NO_OR_GONE,
        "SEC-14: only the parties decline",
        fresh=True,
    ),
    rest(
        "POST /api/friends/{targetUserId}/block",
        "/api/friends/{b}/block",
        "a",
        200,
        OWN,
        "SEC-14: a block is the caller's own row",
        fresh=True,
    ),
    rest(
        "POST /api/friends/{targetUserId}/unblock",
        "/api/friends/{b}/unblock",
        "a",
        200,
        OWN,
        "SEC-14: only the blocker unblocks",
    ),
    rest(
        "GET /api/friends/{targetUserId}/block-status",
        "/api/friends/{b}/block-status",
        "a",
        200,
        OWN,
        "block rows of others stay hidden (SEC-14)",
    ),
    rest("GET /api/groups/{id}", G, "a", 200, NO_OR_GONE, "SEC-11: members only"),
    rest(
        "PATCH /api/groups/{id}",
        G,
        "a",
        200,
        NO_OR_GONE,
        "SEC-11: admins edit",
        {"name": "Renamed"},
    ),
    rest("DELETE /api/groups/{id}", G, "a", 200, NO_OR_GONE, "SEC-11: owners delete", fresh=True),
    rest(
        "POST /api/groups/{id}/accept",
        G + "/accept",
        "p",
        200,
        (404,),
        "SEC-11: only the invitee accepts",
        fresh=True,
    ),
    rest(
        "POST /api/groups/{id}/cover-image",
        G + "/cover-image",
        "a",
        400,
        NO_OR_GONE,
        "SEC-11: admins change images",
    ),
    rest(
        "DELETE /api/groups/{id}/cover-image",
        G + "/cover-image",
        "a",
        200,
        NO_OR_GONE,
        "SEC-11: admins change images",
    ),
    rest(
        "POST /api/groups/{id}/decline",
        G + "/decline",
        "p",
        200,
        (404,),
        "SEC-11: only the invitee declines",
        fresh=True,
    ),
    rest(
        "POST /api/groups/{id}/join",
        G + "/join",
        "r",
        200,
        OWN,
        "SEC-11/22: a join request stays pending (no room, no history)",
        fresh=True,
    ),
    rest(
        "POST /api/groups/{id}/leave",
        G + "/leave",
        "b",
        200,
        OWN,
        "SEC-11: leaving touches only the caller",
        fresh=True,
    ),
    rest(
        "POST /api/groups/{id}/members",
        G + "/members",
        "a",
        200,
        NO_OR_GONE,
        "SEC-11: admins invite",
        {"memberId": "{r}"},
        fresh=True,
    ),
    rest(
        "DELETE /api/groups/{id}/members/{memberId}",
        G + "/members/{b}",
        "a",
        200,
        NO_OR_GONE,
        "SEC-11/22: admins remove",
        fresh=True,
    ),
    rest(
        "PATCH /api/groups/{id}/members/{memberId}/demote",
        G + "/members/{b}/demote",
        "a",
        200,
        NO_OR_GONE,
        "SEC-11: owners demote",
    ),
    rest(
        "PATCH /api/groups/{id}/members/{memberId}/promote",
        G + "/members/{b}/promote",
        "a",
        200,
        NO_OR_GONE,
        "SEC-11: admins promote, never over an owner",
        fresh=True,
    ),
    rest(
        "GET /api/groups/{id}/messages",
        G + "/messages",
        "a",
        200,
        NO_OR_GONE,
        "SEC-11/22: accepted members read history",
    ),
    rest(
        "PATCH /api/groups/{id}/messages/{msgId}/waveform",
        G + "/messages/{gm}/waveform",
        "a",
        200,
        NO_OR_GONE,
        "SEC-11: the sender sets a waveform",
        WAVE,
    ),
    rest(
        "POST /api/groups/{id}/profile-image",
        G + "/profile-image",
        "a",
        400,
        NO_OR_GONE,
        "SEC-11: admins change images",
    ),
    rest(
        "DELETE /api/groups/{id}/profile-image",
        G + "/profile-image",
        "a",
        200,
        NO_OR_GONE,
        "SEC-11: admins change images",
    ),
    rest(
        "POST /api/groups/{id}/step-down",
        G + "/step-down",
        "a",
        400,
        NO_OR_GONE,
        "SEC-11: owners step down",
    ),
    rest(
        "POST /api/groups/{id}/transfer-ownership",
        G + "/transfer-ownership",
        "a",
        400,
        NO_OR_GONE,
        "SEC-11: owners transfer",
        {"newOwnerId": "{b}"},
    ),
    rest(
        "POST /api/groups/{id}/upload",
        G + "/upload",
        "b",
        400,
        NO_OR_GONE,
        "SEC-11: accepted members post files",
    ),
    rest(
        "GET /api/messages/download/{messageId}",
        "/api/messages/download/{m_file}",
        "b",
        200,
        NO_OR_GONE,
        "SEC-17: participants download",
    ),
    rest(
        "GET /api/messages/download/{messageId}/link",
        "/api/messages/download/{m_file}/link",
        "b",
        200,
        NO_OR_GONE,
        "SEC-17: participants get signed links",
    ),
    rest(
        "GET /api/messages/{id}/edits",
        "/api/messages/{m_dm}/edits",
        "a",
        200,
        NO_OR_GONE,
        "participants read edit history",
    ),
    rest(
        "PATCH /api/messages/{id}/waveform",
        "/api/messages/{m_file}/waveform",
        "a",
        200,
        NO_OR_GONE,
        "SEC-12: the sender sets a waveform",
        WAVE,
    ),
    rest(
        "GET /api/messages/{recipientId}",
        "/api/messages/{b}",
        "a",
        200,
        OWN,
        "history is the caller's own pair only",
    ),
    rest(
        "DELETE /api/test/user/{userId}",
        "/api/test/user/{a}",
        "a",
        404,
        (404,),
        "SEC-7: test-mode routes are off unless test mode is on",
        skip="test mode on: tests/api/test_testmode.py",
    ),
    rest(
        "GET /api/users/by-id/{userId}",
        "/api/users/by-id/{a}",
        "b",
        200,
        OWN,
        "SEC-6/23: public profile fields only, no guests",
    ),
    rest(
        "GET /api/users/{username}",
        "/api/users/{a_name}",
        "b",
        200,
        OWN,
        "SEC-6/23: public profile fields only, no guests",
    ),
    rest(
        "GET /uploads/{path}",
        "/uploads/{file_path}",
        "b",
        200,
        OWN,
        "SEC-17: attachments for participants only (issue 11 #4)",
        skip="covered by tests/chat_rest/test_attachment_access.py (issue 11 #4)",
    ),
    rest(
        "GET /assets/{path}",
        "/assets/x",
        "a",
        404,
        (404,),
        "public build assets",
        skip="public static files, no owner data: tests/chat_rest/test_static.py",
    ),
    rest(
        "GET /widget/{path}",
        "/widget/chatr.js",
        "a",
        404,
        (404,),
        "public widget bundle",
        skip="public static files, no owner data: tests/widget/test_static_widget.py",
    ),
]

GID = {"groupId": "{gid}"}
SOCKET_ROWS = [
    sock(
        "message:send",
        {"recipientId": "{b}", "content": "x", "messageId": "{m_file}"},
        "a",
        "ok",
        "error",
        "SEC-12: messageId reuse only by its sender",
    ),
    sock(
        "messages:history",
        {"recipientId": "{b}"},
        "a",
        "ok",
        "ok",
        "history is the caller's own pair only",
    ),
    sock("message:received", "{m_dm}", "b", "ok", "ok", "SEC-12: only the recipient"),
    sock("message:read", "{m_dm}", "b", "ok", "ok", "SEC-12: only the recipient"),
    sock(
        "message:react",
        {"messageId": "{m_dm}", "emoji": "x"},
        "b",
        "ok",
        "error",
        "SEC-12: participants react",
    ),
    sock(
        "message:edit",
        {"messageId": "{m_dm}", "content": "edited"},
        "a",
        "ok",
        "error",
        "only the sender edits",
        fresh=True,
    ),
    sock("message:unsend", "{m_dm}", "a", "ok", "ok", "only the sender unsends", fresh=True),
    sock(
        "typing:start",
        {"recipientId": "{b}"},
        "a",
        "ok",
        "ok",
        "SEC-23: guests type to the agent only",
    ),
    sock(
        "typing:stop",
        {"recipientId": "{b}"},
        "a",
        "ok",
        "ok",
        "SEC-23: guests type to the agent only",
    ),
    sock(
        "audio:recording",
        {"recipientId": "{b}", "isRecording": True},
        "a",
        "ok",
        "ok",
        "no relay inside pending or blocked pairs",
    ),
    sock(
        "audio:listening",
        {"senderId": "{a}", "messageId": "{m_dm}", "isEnded": True},
        "b",
        "ok",
        "ok",
        "SEC-12: only the recipient reports listening",
    ),
    sock(
        "audio:listened",
        {"senderId": "{a}", "messageId": "{m_dm}"},
        "b",
        "ok",
        "ok",
        "SEC-12: only the recipient reports listening",
    ),
    sock(
        "ghost:typing",
        {"recipientId": "{b}", "text": "draft"},
        "a",
        "ok",
        "ok",
        "no relay inside pending or blocked pairs",
    ),
    sock(
        "presence:request",
        ["{a}", "{b}"],
        "a",
        "ok",
        "ok",
        "SEC-13: presence only inside the caller's circle",
    ),
    sock(
        "user:profile:request",
        {"targetUserId": "{a}"},
        "b",
        "ok",
        "ok",
        "SEC-6: public profile fields only",
    ),
    sock(
        "friend:notify",
        {"type": "accepted", "addresseeId": "{b}", "friendshipId": "{fid_friend}"},
        "a",
        "ok",
        "ok",
        "SEC-12: only real relationship changes are relayed",
    ),
    sock(
        "group:message",
        {**GID, "content": "x"},
        "a",
        "ok",
        "error",
        "SEC-11: accepted members post",
    ),
    sock("group:messages:history", GID, "a", "ok", "error", "SEC-11: accepted members read"),
    sock(
        "group:typing",
        {**GID, "isTyping": True},
        "a",
        "ok",
        "error",
        "SEC-11: accepted members type",
    ),
    sock("group:message:unsend", "{gm}", "a", "ok", "ok", "only the sender unsends", fresh=True),
    sock("group:join", "{gid}", "a", "ok", "error", "SEC-22 / issue 11 #3: accepted members"),
    sock("group:leave", "{gid}", "a", "ok", "ok", "leaves only the caller's own room"),
    sock(
        "group:message:send",
        {**GID, "content": "x"},
        "a",
        "ok",
        "error",
        "SEC-22: accepted members post to the room",
    ),
    sock(
        "call:initiate",
        {"receiverId": "{b}"},
        "a",
        "error",
        "error",
        "calls need an online, unblocked receiver",
        skip="rightful flow with both users online: tests/chat/test_calls.py",
    ),
    sock("call:accept", {"callId": "{call}"}, "b", "ok", "ok", "only the receiver", fresh=True),
    sock("call:reject", {"callId": "{call}"}, "b", "ok", "ok", "only the receiver", fresh=True),
    sock("call:hangup", {"callId": "{call}"}, "a", "ok", "ok", "only the two parties", fresh=True),
    sock(
        "call:offer",
        {"callId": "{call}", "targetUserId": "{b}", "sdp": {}},
        "a",
        "ok",
        "ok",
        "SEC-12: relays only between the call's parties",
    ),
    sock(
        "call:answer",
        {"callId": "{call}", "targetUserId": "{a}", "sdp": {}},
        "b",
        "ok",
        "ok",
        "SEC-12: relays only between the call's parties",
    ),
    sock(
        "call:ice-candidate",
        {"callId": "{call}", "targetUserId": "{b}", "candidate": {}},
        "a",
        "ok",
        "ok",
        "SEC-12: relays only between the call's parties",
    ),
    sock(
        "friends:request",
        {"addresseeId": "{b}"},
        "r",
        "ok",
        "ok",
        "SEC-23: no friend requests from guests",
    ),
    sock(
        "friends:accept",
        {"friendshipId": "{fid_pending}"},
        "a",
        "ok",
        "error",
        "only the addressee accepts",
        fresh=True,
    ),
    sock(
        "friends:decline",
        {"friendshipId": "{fid_pending}"},
        "a",
        "ok",
        "error",
        "SEC-14: only the parties decline",
        fresh=True,
    ),
    sock(
        "friends:remove",
        {"friendshipId": "{fid_friend}"},
        "a",
        "ok",
        "error",
        "SEC-14: only the parties remove",
        fresh=True,
    ),
    sock(
        "friends:block",
        {"targetUserId": "{b}"},
        "a",
        "ok",
        "ok",
        "SEC-14: a block is the caller's own row",
        fresh=True,
    ),
    sock(
        "friends:unblock",
        {"targetUserId": "{b}"},
        "a",
        "ok",
        "ok",
        "SEC-14: only the blocker unblocks",
    ),
    sock(
        "friends:block-status",
        {"targetUserId": "{b}"},
        "a",
        "ok",
        "ok",
        "SEC-14: block rows of others stay hidden",
    ),
    sock("groups:detail", GID, "a", "ok", "error", "SEC-11: members only"),
    sock("groups:update", {**GID, "name": "Renamed"}, "a", "ok", "error", "SEC-11: admins edit"),
    sock("groups:accept", GID, "p", "ok", "error", "only the invitee accepts", fresh=True),
    sock("groups:decline", GID, "p", "ok", "error", "only the invitee declines", fresh=True),
    sock(
        "groups:members:add",
        {**GID, "memberId": "{r}"},
        "a",
        "ok",
        "error",
        "SEC-11: admins invite",
        fresh=True,
    ),
    sock(
        "groups:members:remove",
        {**GID, "memberId": "{b}"},
        "a",
        "ok",
        "error",
        "SEC-11/22: admins remove",
        fresh=True,
    ),
    sock(
        "groups:members:promote",
        {**GID, "memberId": "{b}"},
        "a",
        "ok",
        "error",
        "SEC-11: admins promote",
        fresh=True,
    ),
    sock(
        "groups:members:demote",
        {**GID, "memberId": "{b}"},
        "a",
        "ok",
        "error",
        "SEC-11: owners demote",
    ),
    sock("groups:leave", GID, "b", "ok", "ok", "leaving touches only the caller", fresh=True),
    sock("groups:delete", GID, "a", "ok", "error", "SEC-11: owners delete", fresh=True),
    sock(
        "groups:transfer-ownership",
        {**GID, "newOwnerId": "{b}"},
        "a",
        "error",
        "error",
        "SEC-11: owners transfer (to admins only)",
    ),
    sock("groups:step-down", GID, "a", "error", "error", "SEC-11: owners step down (not the last)"),
    sock(
        "conversation:accept", {"conversationId": "{conv}"}, "a", "ok", "error", "participants only"
    ),
    sock(
        "conversation:decline",
        {"conversationId": "{conv}"},
        "b",
        "ok",
        "error",
        "participants only",
        fresh=True,
    ),
    sock(
        "conversation:nuke",
        {"conversationId": "{conv}"},
        "a",
        "ok",
        "error",
        "participants only",
        fresh=True,
    ),
    sock(
        "conversation:nuke-by-user",
        {"recipientId": "{guest}"},
        "agent",
        "ok",
        "ok",
        "SEC-21: a stranger's nuke deletes no guest",
        fresh=True,
    ),
]

# Registered events that name no object of someone else (the caller's own data or none).
NO_ID_EVENTS = {
    "users:me",
    "users:me:update",
    "users:me:settings",
    "users:list",
    "users:search",
    "conversations:request",
    "friends:list",
    "friends:requests:incoming",
    "friends:requests:outgoing",
    "friends:blocked",
    "friends:search",
    "groups:list",
    "groups:invites",
    "groups:create",
    "presence:update",
    "settings:update",
    "profile:imageUpdated",
}
ACKED = {*RPC, "group:messages:history", "call:initiate"}


# ------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def module_5xx() -> list[str]:
    return []


@pytest.fixture(scope="module")
def module_violations() -> list[str]:
    return []


@pytest.fixture(autouse=True)
def _no_5xx_in_module(module_5xx: list[str], module_violations: list[str]) -> Any:
    """As the suite's own guards: no attempt may end in a server error, and every
    JSON answer fits its route's declared schema."""
    yield
    assert not module_5xx, f"requests answered with a server error: {module_5xx}"
    assert not module_violations, "\n".join(module_violations)


@pytest_asyncio.fixture(scope="module")
async def mclient(
    base_settings: Any, module_5xx: list[str], module_violations: list[str]
) -> AsyncIterator[TestClient]:
    """One app for the whole module (the world is built once)."""

    async def record_5xx(request: Any, response: Any) -> None:
        if response.status >= 500:
            module_5xx.append(f"{request.method} {request.path} -> {response.status}")

    app = create_app(base_settings)
    app.on_response_prepare.append(record_5xx)
    watch_responses(app, module_violations)
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client
    await client.close()


async def connect(client: TestClient, token: str) -> LiveClient:
    live = LiveClient(None)
    url = str(client.make_url("")).rstrip("/")
    await live.sio.connect(url, transports=["websocket"], auth={"token": token}, wait_timeout=5)
    await live.wait("socket:ready", index=0)
    return live


@dataclass
class Attackers:
    world: World
    stranger: Any  # TestUser
    guest_token: str
    stranger_s: LiveClient
    guest_s: LiveClient


@pytest_asyncio.fixture(scope="module")
async def attackers(mclient: TestClient) -> AsyncIterator[Attackers]:
    from tests.helpers import make_user

    world = await build_world(mclient)
    stranger = await make_user(mclient)
    guest = await start_guest(mclient, guestName="Attacker")
    found = Attackers(
        world,
        stranger,
        guest["token"],
        await connect(mclient, stranger.token),
        await connect(mclient, guest["token"]),
    )
    yield found
    await found.stranger_s.close()
    await found.guest_s.close()


def assert_no_leak(world: World, text: str, who: str, key: str) -> None:
    for secret in world.secrets:
        assert secret not in text, f"{key}: {who} saw private data {secret!r}"


async def rest_call(client: TestClient, row: Row, world: World, token: str | None) -> Any:
    method, url, body = row.call
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.request(method, world.fill(url), json=world.fill(body), headers=headers)


async def socket_call(live: LiveClient, row: Row, world: World) -> tuple[str, str]:
    """Replay the event; ("error" | "ok", everything the socket received meanwhile)."""
    before = {name: len(items) for name, items in live.events.items()}
    payload = world.fill(row.call)
    ack = None
    if row.key in ACKED:
        ack = await live.call(row.key, payload)
    else:
        await live.emit(row.key, payload)
    await live.call("authz:ping")  # the event was handled: its replies arrived before this
    received = {
        name: items[before.get(name, 0) :] for name, items in live.events.items() if name != "error"
    }
    errors = live.events["error"][before.get("error", 0) :]
    outcome = "error" if (isinstance(ack, dict) and "error" in ack) or errors else "ok"
    return outcome, orjson.dumps([ack, received, errors], default=str).decode()


# ---------------------------------------------------------------------------- the tests

ALL = [pytest.param(row, id=row.key) for row in REST_ROWS + SOCKET_ROWS]


def _skip(row: Row) -> None:
    if row.skip:
        pytest.skip(row.skip)


@pytest.mark.parametrize("row", ALL)
async def test_attackers_are_refused(mclient: TestClient, attackers: Attackers, row: Row) -> None:
    """(b) an unrelated user, (c) a widget guest, (d) no token: refused, nothing leaks or changes."""
    _skip(row)
    world = attackers.world
    before = await snapshot(mclient, world)
    if row in REST_ROWS:
        for who, token, expected in (
            ("stranger", attackers.stranger.token, row.denied),
            ("guest", attackers.guest_token, (403,)),  # SEC-23
            ("anonymous", None, (401,)),
        ):
            resp = await rest_call(mclient, row, world, token)
            text = await resp.text()
            assert resp.status in expected, f"{row.key}: {who} got {resp.status} {text[:200]}"
            assert_no_leak(world, text, who, row.key)
    else:
        outcome, seen = await socket_call(attackers.stranger_s, row, world)
        assert outcome == row.denied, f"{row.key}: stranger {outcome}: {seen[:300]}"
        assert_no_leak(world, seen, "stranger", row.key)
        outcome, seen = await socket_call(attackers.guest_s, row, world)
        assert outcome == "error" or row.key in {
            "message:read",
            "message:received",
            "presence:request",
        }, seen[:300]
        assert_no_leak(world, seen, "guest", row.key)
    assert await snapshot(mclient, world) == before, f"{row.key}: the owner's data changed"


@pytest.mark.parametrize("row", ALL)
async def test_rightful_user_succeeds(mclient: TestClient, attackers: Attackers, row: Row) -> None:
    """(a) the rightful user replays the same call and gets through."""
    _skip(row)
    world = await build_world(mclient) if row.fresh else attackers.world
    user = world.users[row.by]
    await make_current_agent(mclient, world)  # a fresh world of another row took the role
    if row in REST_ROWS:
        resp = await rest_call(mclient, row, world, user.token)
        assert resp.status == row.ok, f"{row.key}: {resp.status} {(await resp.text())[:200]}"
        return
    live = await connect(mclient, user.token)
    try:
        outcome, seen = await socket_call(live, row, world)
    finally:
        await live.close()
    assert outcome == row.ok, f"{row.key}: {outcome}: {seen[:300]}"


async def test_sockets_need_a_token(mclient: TestClient) -> None:
    """(d) for every socket row: no connection without a token, so no event at all."""
    live = LiveClient(None)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await live.sio.connect(
            str(mclient.make_url("")), transports=["websocket"], auth={}, wait_timeout=5
        )
    assert live.events["connect_error"] == [{"message": "Authentication error: No token provided"}]


def _id_operations(client: TestClient, spec: dict[str, Any]) -> set[str]:
    """Operations with a path parameter: openapi.json plus any undocumented router route."""
    found = {
        f"{method.upper()} {path}"
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if method != "head" and any(p["in"] == "path" for p in operation.get("parameters", ()))
    }
    for route in client.app.router.routes():
        canonical = route.resource.canonical if route.resource else ""
        if (
            route.method != "HEAD"
            and re.search(r"{\w+", canonical)
            and "/api/docs" not in canonical
        ):
            found.add(f"{route.method} {canonical}")
    return found


async def test_every_id_route_has_a_row(mclient: TestClient) -> None:
    resp = await mclient.get("/api/openapi.json")
    assert resp.status == 200
    assert {r.key for r in REST_ROWS} == _id_operations(mclient, await resp.json())


async def test_every_socket_event_has_a_row(mclient: TestClient) -> None:
    registered = set(mclient.app[SERVICES].sockets.of("/").handlers)
    assert {r.key for r in SOCKET_ROWS} == registered - NO_ID_EVENTS
    assert NO_ID_EVENTS <= registered
    assert all(r.prevents for r in REST_ROWS + SOCKET_ROWS)
