"""``/api/conversations/*`` (rest.md §6, behaviors.md §4) and their socket emissions."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import make_user
from tests.social.helpers import count_dms, insert_dm

DENIED = {"error": "Not authorised or conversation not found"}


async def open_request(client, services, sender, recipient) -> str:
    """A pending conversation sender → recipient with one message each way."""
    row = await services.conversations.get_or_create(services.pool, sender.id, recipient.id)
    await insert_dm(client, sender.id, recipient.id, "hello")
    await insert_dm(client, recipient.id, sender.id, "hi back")
    return str(row["id"])


async def conversation_exists(services, cid) -> bool:
    return bool(
        await services.pool.fetchval("SELECT count(*) FROM conversations WHERE id = $1", cid)
    )


ANY_ID = "3f2b8e1c-1111-4222-8333-444455556666"


@pytest.mark.parametrize(
    "path",
    [
        f"/api/conversations/{ANY_ID}/accept",
        f"/api/conversations/{ANY_ID}/decline",
        f"/api/conversations/{ANY_ID}/nuke",
        f"/api/conversations/nuke-by-user/{ANY_ID}",
    ],
)
async def test_routes_need_a_token(client, path):
    resp = await client.post(path)
    assert resp.status == 401
    assert await resp.json() == {"error": "Access token required"}


async def test_accept(client, services, bus):
    alice = await make_user(client)
    bob = await make_user(client)
    carol = await make_user(client)
    cid = await open_request(client, services, alice, bob)

    for user in (alice, carol):  # initiator, stranger
        resp = await client.post(f"/api/conversations/{cid}/accept", headers=user.auth)
        assert resp.status == 403
        assert await resp.json() == DENIED
    for bad in ("nope", str(uuid.uuid4())):
        resp = await client.post(f"/api/conversations/{bad}/accept", headers=bob.auth)
        assert resp.status == 403
        assert await resp.json() == DENIED
    assert bus.sent == []

    resp = await client.post(f"/api/conversations/{cid}/accept", headers=bob.auth)
    assert resp.status == 200
    conversation = (await resp.json())["conversation"]
    assert conversation["status"] == "accepted"
    assert conversation["initiatorId"] == alice.id
    assert conversation["participantA"] < conversation["participantB"]
    assert {conversation["participantA"], conversation["participantB"]} == {alice.id, bob.id}
    assert bus.events("conversation:accepted") == [
        (alice.id, {"conversationId": cid, "acceptedBy": bob.id})
    ]

    # Already accepted: returned to either participant, no second event; strangers still refused.
    for user in (alice, bob):
        resp = await client.post(f"/api/conversations/{cid}/accept", headers=user.auth)
        assert resp.status == 200
        assert (await resp.json())["conversation"]["status"] == "accepted"
    resp = await client.post(f"/api/conversations/{cid}/accept", headers=carol.auth)
    assert resp.status == 403
    assert len(bus.events("conversation:accepted")) == 1


async def test_decline(client, services, bus):
    alice = await make_user(client)
    bob = await make_user(client)
    carol = await make_user(client)
    cid = await open_request(client, services, alice, bob)
    for user in (alice, carol):
        resp = await client.post(f"/api/conversations/{cid}/decline", headers=user.auth)
        assert resp.status == 403
        assert await resp.json() == DENIED
    resp = await client.post("/api/conversations/xyz/decline", headers=bob.auth)
    assert resp.status == 403

    resp = await client.post(f"/api/conversations/{cid}/decline", headers=bob.auth)
    assert resp.status == 200
    assert await resp.json() == {"success": True}
    assert await count_dms(client, alice.id, bob.id) == 0
    assert not await conversation_exists(services, cid)
    assert bus.events("conversation:declined") == [
        (alice.id, {"conversationId": cid, "declinedBy": bob.id, "otherUserId": bob.id})
    ]
    resp = await client.post(f"/api/conversations/{cid}/decline", headers=bob.auth)
    assert resp.status == 403


async def test_decline_keeps_other_pairs_messages(client, services, bus):
    alice = await make_user(client)
    bob = await make_user(client)
    carol = await make_user(client)
    cid = await open_request(client, services, alice, bob)
    await insert_dm(client, alice.id, carol.id)
    resp = await client.post(f"/api/conversations/{cid}/decline", headers=bob.auth)
    assert resp.status == 200
    assert await count_dms(client, alice.id, carol.id) == 1


async def test_nuke_by_either_participant(client, services, bus):
    alice = await make_user(client)
    bob = await make_user(client)
    carol = await make_user(client)
    cid = await open_request(client, services, alice, bob)
    resp = await client.post(f"/api/conversations/{cid}/nuke", headers=carol.auth)
    assert resp.status == 403
    assert await resp.json() == DENIED
    resp = await client.post("/api/conversations/1234/nuke", headers=alice.auth)
    assert resp.status == 403

    resp = await client.post(f"/api/conversations/{cid}/nuke", headers=alice.auth)  # the initiator
    assert await resp.json() == {"success": True}
    assert await count_dms(client, alice.id, bob.id) == 0
    assert not await conversation_exists(services, cid)
    events = dict(bus.events("conversation:declined"))
    assert events == {
        alice.id: {"conversationId": cid, "declinedBy": alice.id, "otherUserId": bob.id},
        bob.id: {"conversationId": cid, "declinedBy": alice.id, "otherUserId": alice.id},
    }
    # Neither was a guest: both accounts remain.
    assert (await client.get("/api/users/me", headers=bob.auth)).status == 200


async def test_nuke_deletes_guest_participants(client, services, bus):
    agent = await make_user(client)
    guest = await make_user(client)
    await services.pool.execute("UPDATE users SET is_guest = true WHERE id = $1", guest.id)
    cid = await open_request(client, services, guest, agent)
    resp = await client.post(f"/api/conversations/{cid}/nuke", headers=agent.auth)
    assert await resp.json() == {"success": True}
    assert await services.pool.fetchval("SELECT count(*) FROM users WHERE id = $1", guest.id) == 0
    assert await services.pool.fetchval("SELECT count(*) FROM users WHERE id = $1", agent.id) == 1


async def test_nuke_by_user(client, services, bus):
    alice = await make_user(client)
    bob = await make_user(client)
    await insert_dm(client, alice.id, bob.id)
    await insert_dm(client, bob.id, alice.id)
    # No conversation row needed; both callers get the right "other person".
    for caller, other in ((alice, bob), (bob, alice)):
        bus.clear()
        await insert_dm(client, caller.id, other.id)
        resp = await client.post(f"/api/conversations/nuke-by-user/{other.id}", headers=caller.auth)
        assert await resp.json() == {"success": True}
        assert await count_dms(client, alice.id, bob.id) == 0
        events = dict(bus.events("conversation:declined"))
        assert events == {
            caller.id: {"conversationId": None, "declinedBy": caller.id, "otherUserId": other.id},
            other.id: {"conversationId": None, "declinedBy": caller.id, "otherUserId": caller.id},
        }

    cid = await open_request(client, services, alice, bob)
    resp = await client.post(f"/api/conversations/nuke-by-user/{bob.id}", headers=alice.auth)
    assert await resp.json() == {"success": True}
    assert not await conversation_exists(services, cid)

    resp = await client.post("/api/conversations/nuke-by-user/not-an-id", headers=alice.auth)
    assert resp.status == 400
    assert await resp.json() == {"error": "Invalid recipient id"}
    resp = await client.post(f"/api/conversations/nuke-by-user/{uuid.uuid4()}", headers=alice.auth)
    assert await resp.json() == {"success": True}  # no existence check


async def test_nuke_by_user_deletes_guest(client, services, bus):
    agent = await make_user(client)
    guest = await make_user(client)
    await services.pool.execute("UPDATE users SET is_guest = true WHERE id = $1", guest.id)
    await insert_dm(client, guest.id, agent.id)
    resp = await client.post(f"/api/conversations/nuke-by-user/{guest.id}", headers=agent.auth)
    assert await resp.json() == {"success": True}
    assert await services.pool.fetchval("SELECT count(*) FROM users WHERE id = $1", guest.id) == 0
