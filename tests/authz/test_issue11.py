"""Issue 11's reproductions, replayed as the attacker would (SEC-21 .. SEC-24).

Each test failed on the code before the fix; item 4 (attachment URLs) is covered by
``tests/chat_rest/test_attachment_access.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
import socketio

from chatr_server.appkeys import SERVICES
from chatr_server.services.auth import GUEST_REFUSED
from tests.authz.world import second_token
from tests.groups.helpers import create_group, group_with
from tests.helpers import TestUser, make_user
from tests.live import settle, wait_disconnected
from tests.widget.helpers import bearer, pool, start_guest

NOT_MEMBER = {"message": "Not a member of this group"}


async def guest_with_thread(client: Any, agent: TestUser) -> dict[str, Any]:
    """A widget guest and an accepted support conversation with one agent message."""
    guest = await start_guest(client, guestName="Visitor")
    resp = await client.post(
        f"/api/admin/widget-contacts/{guest['guestId']}/reply",
        json={"content": "agent-private-reply"},
        headers=agent.auth,
    )
    assert resp.status == 200, await resp.text()
    return guest


# ---- #1 / SEC-21: nuke-by-user of someone else's guest ---------------------------------


async def test_stranger_cannot_nuke_a_widget_guest(client, agent):
    guest = await guest_with_thread(client, agent)
    stranger = await make_user(client)
    url = f"/api/conversations/nuke-by-user/{guest['guestId']}"
    other_guest = await start_guest(client, guestName="Other")

    async def thread_intact() -> None:
        resp = await client.get(
            f"/api/admin/widget-contacts/{guest['guestId']}/messages", headers=agent.auth
        )
        assert resp.status == 200
        assert [m["content"] for m in (await resp.json())["messages"]] == ["agent-private-reply"]

    # The contract's answer for a pair with nothing in common: 200, nothing to delete.
    resp = await client.post(url, headers=stranger.auth)
    assert (resp.status, await resp.json()) == (200, {"success": True})
    await thread_intact()
    # A guest token is refused outright (SEC-23).
    resp = await client.post(url, headers=bearer(other_guest["token"]))
    assert resp.status == 403
    await thread_intact()
    # The agent, who shared the conversation, still removes the guest with it.
    resp = await client.post(url, headers=agent.auth)
    assert (resp.status, await resp.json()) == (200, {"success": True})
    assert not await pool(client).fetchval(
        "SELECT count(*) FROM users WHERE id = $1", guest["guestId"]
    )


# ---- #2 / SEC-22: leaving or removal keeps the legacy room open ------------------------


async def _joined(gid: str, owner_s, *others) -> None:
    """Everyone ran ``group:join``; the owner (first in) saw each of the others arrive."""
    await owner_s.emit("group:join", gid)
    await settle(owner_s)
    for index, live in enumerate(others):
        await live.emit("group:join", gid)
        await owner_s.wait("group:user:joined", index=index)


@pytest.mark.parametrize("node", ["same", "other"])
@pytest.mark.parametrize("how", ["removed", "left"])
async def test_leaving_a_group_leaves_its_legacy_room(
    client, sockets, make_client, redis_url, how, node
):
    if node == "other" and redis_url is None:
        pytest.skip("needs Redis")
    far = client if node == "same" else await make_client()
    owner, member, witness = [await make_user(client) for _ in range(3)]
    gid = await group_with(client, owner, accepted=[member, witness])
    owner_s = await sockets(owner.token)
    member_s = await sockets(member.token, far)
    witness_s = await sockets(witness.token, far)
    await _joined(gid, owner_s, member_s, witness_s)

    if how == "removed":
        resp = await client.delete(f"/api/groups/{gid}/members/{member.id}", headers=owner.auth)
    else:
        resp = await client.post(f"/api/groups/{gid}/leave", headers=member.auth)
    assert resp.status == 200

    await owner_s.emit("group:message:send", {"groupId": gid, "content": "after-secret"})
    assert (await witness_s.wait("group:message:received"))["content"] == "after-secret"
    await member_s.emit("typing:start", {"groupId": gid})
    await settle(member_s, witness_s, owner_s)
    assert member_s.events["group:message:received"] == []
    assert witness_s.events["typing:status"] == owner_s.events["typing:status"] == []


async def test_group_deletion_empties_its_legacy_room(client, sockets):
    owner, member = await make_user(client), await make_user(client)
    gid = await group_with(client, owner, accepted=[member])
    owner_s, member_s = await sockets(owner.token), await sockets(member.token)
    await _joined(gid, owner_s, member_s)
    ns = client.server.app[SERVICES].sockets.of("/")
    assert len(ns.sockets_in(f"group:{gid}")) == 2
    resp = await client.delete(f"/api/groups/{gid}", headers=owner.auth)
    assert resp.status == 200
    assert ns.sockets_in(f"group:{gid}") == set()


# ---- #3 / SEC-22: pending members in the legacy room -----------------------------------


async def test_pending_members_cannot_join_the_legacy_room(client, sockets):
    owner, invitee, requester = [await make_user(client) for _ in range(3)]
    gid = (await create_group(client, owner, [invitee]))["id"]  # invitee: pending invite
    resp = await client.post(f"/api/groups/{gid}/join", headers=requester.auth)
    assert resp.status == 200  # a pending join request, as the contract allows
    owner_s = await sockets(owner.token)
    await owner_s.emit("group:join", gid)
    pending = [await sockets(invitee.token), await sockets(requester.token)]
    for live in pending:
        await live.emit("group:join", gid)
        assert await live.wait("error") == NOT_MEMBER
    await owner_s.emit("group:message:send", {"groupId": gid, "content": "members-only"})
    assert (await owner_s.wait("group:message:received"))["content"] == "members-only"
    await settle(*pending)
    assert all(live.events["group:message:received"] == [] for live in pending)
    assert owner_s.events["group:user:joined"] == []


# ---- #5 / SEC-23: a guest token is not a user token -------------------------------------


async def test_guest_token_is_refused_outside_the_widget(client, agent, sockets):
    victim = await make_user(client)
    await pool(client).execute("UPDATE users SET email_verified = true WHERE id = $1", victim.id)
    guest = await start_guest(client)
    headers = bearer(guest["token"])
    for method, url, body in (
        ("GET", "/api/users", None),
        ("GET", "/api/users/search?q=u_", None),
        ("GET", f"/api/users/by-id/{victim.id}", None),
        ("GET", f"/api/users/{victim.username}", None),
        ("GET", "/api/friends/search?q=u_", None),
        ("POST", "/api/friends/request", {"addresseeId": victim.id}),
        ("GET", "/api/groups", None),
        ("POST", "/api/groups", {"name": "x"}),
    ):
        resp = await client.request(method, url, headers=headers, json=body)
        assert (resp.status, await resp.json()) == (403, {"error": GUEST_REFUSED}), url
    assert not await pool(client).fetchval(
        "SELECT count(*) FROM friendships WHERE requester_id = $1", guest["guestId"]
    )
    # The widget's own routes still answer.
    resp = await client.get("/api/widget/history", headers=headers)
    assert resp.status == 200

    guest_s = await sockets(guest["token"])
    assert await guest_s.call("users:list") == {"error": GUEST_REFUSED}
    assert await guest_s.call("friends:request", {"addresseeId": victim.id}) == {
        "error": GUEST_REFUSED
    }
    # Messages and typing go to the support agent only.
    victim_s = await sockets(victim.token)
    await guest_s.emit("message:send", {"recipientId": victim.id, "content": "spam"})
    await guest_s.emit("typing:start", {"recipientId": victim.id})
    await settle(guest_s, victim_s)
    assert victim_s.events["message:received"] == victim_s.events["typing:status"] == []
    assert guest_s.events["message:sent"] == []
    assert not await pool(client).fetchval(
        "SELECT count(*) FROM messages WHERE sender_id = $1", guest["guestId"]
    )


async def test_widget_chat_with_the_agent_still_works(client, agent, sockets):
    guest = await start_guest(client)
    guest_s, agent_s = await sockets(guest["token"]), await sockets(agent.token)
    await guest_s.emit("typing:start", {"recipientId": agent.id})
    assert (await agent_s.wait("typing:status"))["userId"] == guest["guestId"]
    await guest_s.emit(
        "message:send", {"recipientId": agent.id, "content": "help me", "tempId": "temp_1"}
    )
    sent = await guest_s.wait("message:sent")
    received = await agent_s.wait("message:received")
    assert received["id"] == sent["id"] and received["content"] == "help me"
    await guest_s.emit("message:read", {"messageId": sent["id"], "senderId": agent.id})
    await agent_s.emit("message:send", {"recipientId": guest["guestId"], "content": "hi there"})
    reply = await guest_s.wait("message:received")
    assert reply["content"] == "hi there"
    await guest_s.emit("message:read", {"messageId": reply["id"], "senderId": agent.id})
    assert (await agent_s.wait("message:status"))["status"] == "read"
    resp = await client.get("/api/widget/history", headers=bearer(guest["token"]))
    assert [m["content"] for m in (await resp.json())["messages"]] == ["help me", "hi there"]


# ---- #6 / SEC-24: logout leaves sockets open ---------------------------------------------


@pytest.mark.parametrize("node", ["same", "other"])
async def test_logout_closes_the_sockets_of_that_token(
    client, sockets, make_client, redis_url, node
):
    if node == "other" and redis_url is None:
        pytest.skip("needs Redis")
    far = client if node == "same" else await make_client()
    user = await make_user(client)
    logged_out = await sockets(user.token, far)
    other_device = await sockets(second_token(client, user), far)
    resp = await client.post("/api/auth/logout", headers=user.auth)
    assert resp.status == 200
    await wait_disconnected(logged_out)
    # The user's other token (another device) keeps working.
    assert (await other_device.call("users:me"))["id"] == user.id
    # And the revoked token cannot open a new one.
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sockets(user.token, far)
