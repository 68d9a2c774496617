"""Social and conversation service primitives the socket layer reuses, on the real database."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from chatr_server.errors import ServiceError
from tests.helpers import make_user
from tests.social.helpers import befriend, request


async def test_get_or_create_conversation_is_race_safe(client, services):
    alice = await make_user(client)
    bob = await make_user(client)
    conversations = services.conversations
    rows = await asyncio.gather(
        *(conversations.get_or_create(services.pool, alice.id, bob.id) for _ in range(10))
    )
    assert len({r["id"] for r in rows}) == 1
    count = await services.pool.fetchval(
        "SELECT count(*) FROM conversations WHERE participant_a = ANY($1::uuid[])"
        " AND participant_b = ANY($1::uuid[])",
        [alice.id, bob.id],
    )
    assert count == 1
    row = rows[0]
    assert str(row["initiator_id"]) == alice.id
    assert row["status"] == "pending"
    assert str(row["participant_a"]) < str(row["participant_b"])
    # Later calls, from either side, return the same row unchanged.
    again = await services.conversations.get_or_create(services.pool, bob.id, alice.id)
    assert again["id"] == row["id"]
    assert str(again["initiator_id"]) == alice.id


async def test_get_or_create_conversation_race_from_both_sides(client, services):
    alice = await make_user(client)
    bob = await make_user(client)
    pairs = [(alice.id, bob.id), (bob.id, alice.id)] * 5
    rows = await asyncio.gather(
        *(services.conversations.get_or_create(services.pool, s, r) for s, r in pairs)
    )
    assert len({r["id"] for r in rows}) == 1
    assert str(rows[0]["initiator_id"]) in {alice.id, bob.id}


async def test_get_or_create_conversation_between_friends_is_accepted(client, services):
    alice = await make_user(client)
    bob = await make_user(client)
    await befriend(client, alice, bob)
    row = await services.conversations.get_or_create(services.pool, bob.id, alice.id)
    assert row["status"] == "accepted"
    assert str(row["initiator_id"]) == bob.id


async def test_get_or_create_conversation_rejects_bad_pairs(client, services):
    alice = await make_user(client)
    with pytest.raises(ServiceError) as exc:
        await services.conversations.get_or_create(services.pool, alice.id, alice.id)
    assert exc.value.status == 400
    with pytest.raises(ServiceError) as exc:
        await services.conversations.get_or_create(services.pool, alice.id, uuid.uuid4())
    assert exc.value.status == 404


async def test_block_state_and_are_friends(client, services):
    alice = await make_user(client)
    bob = await make_user(client)
    social, db = services.social, services.pool
    assert await social.block_state(db, alice.id, bob.id) is None
    assert not await social.are_friends(db, alice.id, bob.id)
    await befriend(client, alice, bob)
    assert await social.are_friends(db, alice.id, bob.id)
    assert await social.are_friends(db, bob.id, alice.id)

    await client.post(f"/api/friends/{bob.id}/block", headers=alice.auth)
    assert await social.block_state(db, alice.id, bob.id) == "by_a"
    assert await social.block_state(db, bob.id, alice.id) == "by_b"
    assert not await social.are_friends(db, alice.id, bob.id)
    # Mutual block: each side sees itself as a blocker.
    await client.post(f"/api/friends/{alice.id}/block", headers=bob.auth)
    assert await social.block_state(db, alice.id, bob.id) == "by_a"
    assert await social.block_state(db, bob.id, alice.id) == "by_a"


async def test_connected_and_pending(client, services):
    u = await make_user(client)
    friend = await make_user(client)
    accepted_partner = await make_user(client)
    asked_by_me = await make_user(client)
    asked_me = await make_user(client)
    friend_and_asked = await make_user(client)
    blocked_friend = await make_user(client)
    stranger = await make_user(client)
    social, db = services.social, services.pool

    await befriend(client, u, friend)
    conv = await services.conversations.get_or_create(db, accepted_partner.id, u.id)
    await services.conversations.accept(u.id, str(conv["id"]))
    await services.conversations.get_or_create(db, u.id, asked_by_me.id)
    await services.conversations.get_or_create(db, asked_me.id, u.id)
    await services.conversations.get_or_create(db, u.id, friend_and_asked.id)
    await befriend(client, u, friend_and_asked)  # friends later: pending conv stays pending
    await befriend(client, blocked_friend, u)
    await client.post(f"/api/friends/{u.id}/block", headers=blocked_friend.auth)
    await request(client, stranger, u.id)  # a pending friend request connects nobody

    connected, pending = await social.connected_and_pending(db, u.id)
    assert connected == {
        friend.id,
        accepted_partner.id,
        asked_by_me.id,
        asked_me.id,
        friend_and_asked.id,
    }
    assert pending == {asked_by_me.id}

    connected, pending = await social.connected_and_pending(db, asked_by_me.id)
    assert (connected, pending) == ({u.id}, set())


async def test_friendship_refs_hide_blocks_of_the_viewer(client, services):
    viewer = await make_user(client)
    blocker = await make_user(client)
    pending_to = await make_user(client)
    nobody = await make_user(client)
    social, db = services.social, services.pool
    await client.post(f"/api/friends/{viewer.id}/block", headers=blocker.auth)
    _, body = await request(client, viewer, pending_to.id)
    refs = await social.friendship_refs(db, viewer.id, [blocker.id, pending_to.id, nobody.id])
    assert refs == {
        blocker.id: None,
        pending_to.id: {"id": body["friendship"]["id"], "status": "pending", "iRequested": True},
        nobody.id: None,
    }
    refs = await social.friendship_refs(db, blocker.id, [viewer.id])
    assert refs[viewer.id]["status"] == "blocked"
    assert refs[viewer.id]["iRequested"] is True
    assert await social.friendship_refs(db, viewer.id, []) == {}


async def test_verify_friend_notify(client, services):
    alice = await make_user(client)
    bob = await make_user(client)
    carol = await make_user(client)
    verify = services.social.verify_friend_notify

    # Nothing happened yet: every claim is refused.
    assert not await verify(alice.id, "request", bob.id, None)
    _, body = await request(client, alice, bob.id)
    fid = body["friendship"]["id"]
    assert not await verify(alice.id, "request", carol.id, fid)  # wrong addressee
    assert not await verify(bob.id, "request", alice.id, fid)  # wrong actor
    assert not await verify(alice.id, "accepted", bob.id, fid)  # wrong type
    assert not await verify(alice.id, "request", bob.id, str(uuid.uuid4()))  # wrong row
    assert not await verify(alice.id, "bogus", bob.id, fid)
    assert not await verify(alice.id, "request", "not-a-uuid", fid)
    assert not await verify(alice.id, "request", bob.id, "not-a-uuid")
    assert await verify(alice.id, "request", bob.id, fid)
    assert not await verify(alice.id, "request", bob.id, fid)  # consumed: no replays

    resp = await client.post(f"/api/friends/{fid}/accept", headers=bob.auth)
    assert resp.status == 200
    assert await verify(bob.id, "accepted", alice.id, None)  # friendshipId is optional

    resp = await client.delete(f"/api/friends/{fid}", headers=alice.auth)
    assert resp.status == 200
    assert await verify(alice.id, "removed", bob.id, fid)

    await client.post(f"/api/friends/{carol.id}/block", headers=alice.auth)
    assert await verify(alice.id, "blocked", carol.id, None)
    await client.post(f"/api/friends/{carol.id}/unblock", headers=alice.auth)
    assert await verify(alice.id, "unblocked", carol.id, None)
    # Unblocking when there was no block is not a change.
    await client.post(f"/api/friends/{carol.id}/unblock", headers=alice.auth)
    assert not await verify(alice.id, "unblocked", carol.id, None)

    _, body = await request(client, carol, alice.id)
    await client.post(f"/api/friends/{body['friendship']['id']}/decline", headers=alice.auth)
    assert await verify(alice.id, "declined", carol.id, body["friendship"]["id"])


async def test_rpc_style_calls_share_the_rest_errors(client, services):
    """The lead's socket RPCs call the same methods; errors carry the contract texts."""
    alice = await make_user(client)
    social = services.social
    with pytest.raises(ServiceError) as exc:
        await social.send_request(alice.id, None)
    assert (exc.value.status, exc.value.body()) == (400, {"message": "addresseeId required"})
    with pytest.raises(ServiceError) as exc:
        await social.accept_request(alice.id, {"nested": True})
    assert exc.value.body() == {"message": "Request not found"}
    with pytest.raises(ServiceError) as exc:
        await social.search(alice.id, 5)
    assert exc.value.status == 400
    with pytest.raises(ServiceError) as exc:
        await services.conversations.accept(alice.id, None)
    assert exc.value.body() == {"error": "Not authorised or conversation not found"}
    with pytest.raises(ServiceError):
        await social.update_privacy(alice.id, {})
    assert await social.list_friends(alice.id) == {"friends": []}


async def test_friend_update_from(client, services):
    alice = await make_user(client)
    sender = await services.social.friend_update_from(services.pool, alice.id)
    assert sender == {
        "id": alice.id,
        "username": alice.username,
        "displayName": "Test User",
        "profileImage": None,
    }
    assert await services.social.friend_update_from(services.pool, str(uuid.uuid4())) is None


async def test_get_or_create_conversation_rejects_malformed_ids(client, services):
    alice = await make_user(client)
    with pytest.raises(ServiceError) as exc:
        await services.conversations.get_or_create(services.pool, alice.id, "nope")
    assert exc.value.status == 404


async def test_conversation_list_listeners_hear_changes(client, services, bus):
    alice = await make_user(client)
    bob = await make_user(client)
    heard: list[list[str]] = []

    async def listener(user_ids):
        heard.append(sorted(user_ids))

    async def broken(user_ids):
        raise RuntimeError("cache down")

    services.conversations.on_lists_changed(broken)  # must not break the operation
    services.conversations.on_lists_changed(listener)
    resp = await client.post(f"/api/friends/{bob.id}/block", headers=alice.auth)
    assert resp.status == 200
    resp = await client.post(f"/api/conversations/nuke-by-user/{bob.id}", headers=alice.auth)
    assert resp.status == 200
    assert heard == [sorted([alice.id, bob.id])] * 2
