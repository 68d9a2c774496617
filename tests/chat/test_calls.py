"""Voice-call signalling (events.md §6.4) between the call's two parties only."""

from __future__ import annotations

from chatr_server.appkeys import SERVICES
from tests.helpers import make_user
from tests.live import settle


async def test_call_flow_and_relays(client, connect):
    alice, bob, eve = await make_user(client), await make_user(client), await make_user(client)
    a, b, e = await connect(alice), await connect(bob), await connect(eve)
    ack = await a.call("call:initiate", {"receiverId": bob.id})
    call_id = ack["callId"]
    incoming = await b.wait("call:incoming")
    assert incoming["callId"] == call_id
    assert incoming["caller"] == {
        "id": alice.id,
        "username": alice.username,
        "displayName": "Test User",
        "profileImage": None,
    }
    assert await e.call("call:initiate", {"receiverId": bob.id}) == {
        "error": "User is on another call"
    }
    assert await a.call("call:initiate", {"receiverId": eve.id}) == {
        "error": "You are already in a call"
    }
    await e.emit("call:accept", {"callId": call_id})  # not the receiver: ignored
    await b.emit("call:accept", {"callId": call_id})
    assert await a.wait("call:accepted") == {"callId": call_id}
    await a.emit(
        "call:offer",
        {"callId": call_id, "targetUserId": bob.id, "sdp": {"type": "offer", "sdp": "v=0"}},
    )
    offer = await b.wait("call:offer")
    assert offer == {
        "callId": call_id,
        "fromUserId": alice.id,
        "sdp": {"type": "offer", "sdp": "v=0"},
    }
    await b.emit(
        "call:answer", {"callId": call_id, "targetUserId": alice.id, "sdp": {"type": "answer"}}
    )
    assert (await a.wait("call:answer"))["fromUserId"] == bob.id
    await b.emit(
        "call:ice-candidate", {"callId": call_id, "targetUserId": alice.id, "candidate": {"c": 1}}
    )
    assert (await a.wait("call:ice-candidate"))["candidate"] == {"c": 1}
    # A third party can neither inject nor be targeted.
    await e.emit("call:offer", {"callId": call_id, "targetUserId": bob.id, "sdp": {"evil": True}})
    await a.emit("call:offer", {"callId": call_id, "targetUserId": eve.id, "sdp": {"leak": True}})
    await settle(e, a, b)
    assert len(b.events["call:offer"]) == 1
    assert e.events["call:offer"] == []
    await a.emit("call:hangup", {"callId": call_id})
    ended = await b.wait("call:ended")
    assert ended["callId"] == call_id and ended["reason"] == "hangup"
    assert isinstance(ended["duration"], int)
    await a.emit("call:hangup", {"callId": "bad"})
    assert await a.wait("error") == {"message": "Invalid payload"}


async def test_initiate_errors(client, connect):
    alice, bob = await make_user(client), await make_user(client)
    a = await connect(alice)
    assert await a.call("call:initiate", {}) == {"error": "receiverId is required"}
    assert await a.call("call:initiate", {"receiverId": bob.id}) == {"error": "User is offline"}
    assert await a.call("call:initiate", "x") == {"error": "Invalid payload"}
    await connect(bob)
    await client.app[SERVICES].pool.execute(
        "INSERT INTO friendships (requester_id, addressee_id, status) VALUES ($1::uuid, $2::uuid, 'blocked')",
        bob.id,
        alice.id,
    )
    assert await a.call("call:initiate", {"receiverId": bob.id}) == {
        "error": "Cannot call this user"
    }


async def test_unanswered_call_rings_out_and_reject(client, connect):
    client.app[SERVICES].calls.ring_timeout = 0.2
    alice, bob = await make_user(client), await make_user(client)
    a, b = await connect(alice), await connect(bob)
    call_id = (await a.call("call:initiate", {"receiverId": bob.id}))["callId"]
    assert await a.wait("call:ended") == {"callId": call_id, "reason": "no_answer"}
    assert await b.wait("call:ended") == {"callId": call_id, "reason": "missed"}
    call_id = (await a.call("call:initiate", {"receiverId": bob.id}))["callId"]
    await b.emit("call:reject", {"callId": call_id})
    assert await a.wait("call:ended") == {"callId": call_id, "reason": "rejected"}


async def test_disconnect_ends_live_call(client, connect):
    alice, bob = await make_user(client), await make_user(client)
    a, b = await connect(alice), await connect(bob)
    call_id = (await a.call("call:initiate", {"receiverId": bob.id}))["callId"]
    await b.emit("call:accept", {"callId": call_id})
    await a.wait("call:accepted")
    await b.close()
    ended = await a.wait("call:ended")
    assert ended["callId"] == call_id and ended["reason"] == "disconnect"
