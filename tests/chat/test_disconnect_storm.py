"""Concurrent last disconnects share one statement: last_seen, ended calls and the
offline ``user:status`` stay as for a lone disconnect (events.md §3, §6.5;
behaviors.md §3)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from chatr_server.appkeys import SERVICES
from tests.helpers import TestUser, make_user
from tests.live import server_settled, settle


async def _relate(client: Any, sql: str, a: TestUser, b: TestUser) -> None:
    await client.app[SERVICES].pool.execute(sql, uuid.UUID(a.id), uuid.UUID(b.id))


async def _befriend(client: Any, a: TestUser, b: TestUser) -> None:
    await _relate(
        client,
        "INSERT INTO friendships (requester_id, addressee_id, status) VALUES ($1, $2, 'accepted')",
        a,
        b,
    )


async def _call(client: Any, caller: TestUser, receiver: TestUser, status: str) -> str:
    started = "now() - interval '30 seconds'" if status == "active" else "NULL"
    call_id = await client.app[SERVICES].pool.fetchval(
        "INSERT INTO calls (caller_id, receiver_id, status, started_at) "
        f"VALUES ($1, $2, $3, {started}) RETURNING id",
        uuid.UUID(caller.id),
        uuid.UUID(receiver.id),
        status,
    )
    return str(call_id)


def _batch_sizes(client: Any) -> list[int]:
    sizes: list[int] = []
    client.app[SERVICES].auth._socket_logouts._on_batch = sizes.append
    return sizes


async def test_one_statement_stores_ends_calls_and_finds_peers_for_each_user(client):
    alice, bob, carol, dave, erin = [await make_user(client) for _ in range(5)]
    await _befriend(client, alice, erin)
    await _befriend(client, carol, erin)
    # A pending request alice sent: erin does not see alice's status through it (P).
    await _relate(
        client,
        "INSERT INTO conversations (participant_a, participant_b, initiator_id, status) "
        "SELECT least($1::uuid, $2::uuid), greatest($1::uuid, $2::uuid), $1, 'pending'",
        alice,
        dave,
    )
    talking = await _call(client, alice, bob, "active")  # both leave: told once
    ringing = await _call(client, dave, carol, "ringing")  # only the receiver leaves
    sizes = _batch_sizes(client)
    auth = client.app[SERVICES].auth
    # One loop pass: one batch. alice leaves twice (reconnected and left again).
    out = await asyncio.gather(
        *(auth.socket_logout(u.id) for u in (alice, bob, carol, alice, erin))
    )
    assert sizes == [5]
    a1, b1, c1, a2, e1 = out
    assert len({o.last_seen for o in out}) == 1
    assert a1.visible == [erin.id] and a2.visible == [erin.id]
    assert b1.visible == [] and c1.visible == [erin.id]
    assert e1.visible == sorted([alice.id, carol.id])
    assert a1.calls == [
        {"id": talking, "caller_id": alice.id, "receiver_id": bob.id, "duration": 30}
    ]
    assert a2.calls == [] and b1.calls == [] and e1.calls == []
    assert c1.calls == [
        {"id": ringing, "caller_id": dave.id, "receiver_id": carol.id, "duration": None}
    ]
    pool = client.app[SERVICES].pool
    statuses = dict(
        await pool.fetch(
            "SELECT id::text, status FROM calls WHERE id = ANY($1::uuid[])",
            [uuid.UUID(talking), uuid.UUID(ringing)],
        )
    )
    assert statuses == {talking: "ended", ringing: "missed"}
    stored = await pool.fetch(
        "SELECT id::text, last_seen FROM users WHERE id = ANY($1::uuid[])",
        [uuid.UUID(u.id) for u in (alice, bob, carol, dave, erin)],
    )
    assert {r["id"]: r["last_seen"] for r in stored} == {
        alice.id: a1.last_seen,
        bob.id: a1.last_seen,
        carol.id: a1.last_seen,
        dave.id: None,  # never connected, never left
        erin.id: a1.last_seen,
    }


async def test_unknown_user_gets_no_peers_and_no_calls(client):
    auth = client.app[SERVICES].auth
    logout = await auth.socket_logout(str(uuid.uuid4()))
    assert logout.visible == [] and logout.calls == []


async def test_many_sockets_leaving_at_once_each_tell_their_friend(client, connect):
    watcher = await make_user(client)
    leavers = [await make_user(client) for _ in range(6)]
    for user in leavers:
        await _befriend(client, user, watcher)
    hidden, receiver = leavers[0], leavers[2]
    w = await connect(watcher)
    lives = [await connect(u) for u in leavers]
    await lives[0].emit("settings:update", {"privacyOnlineStatus": "nobody"})
    while not (await w.wait("user:status")).get("hidden"):
        pass  # the others coming online; then the hidden user "goes offline" at once
    w.events["user:status"].clear()
    call_id = (await lives[1].call("call:initiate", {"receiverId": receiver.id}))["callId"]
    await lives[2].wait("call:incoming")
    sizes = _batch_sizes(client)
    await server_settled(client, *lives)
    await settle(w)  # w has received what the disconnects queued to it
    assert sum(sizes) == len(leavers)
    statuses = [s for s in w.events["user:status"] if s["status"] == "offline"]
    by_user = {s["userId"]: s for s in statuses}
    # Everyone but the hidden user, once each, with the stored last-seen time.
    assert len(statuses) == len(leavers) - 1 and hidden.id not in by_user
    assert set(by_user) == {u.id for u in leavers[1:]}
    stored = await client.app[SERVICES].pool.fetch(
        "SELECT id::text, last_seen FROM users WHERE id = ANY($1::uuid[])",
        [uuid.UUID(u.id) for u in leavers],
    )
    for row in stored:
        assert row["last_seen"] is not None
        if row["id"] in by_user:
            seen = row["last_seen"].isoformat(timespec="milliseconds").replace("+00:00", "Z")
            assert by_user[row["id"]]["lastSeen"] == seen
    status = await client.app[SERVICES].pool.fetchval(
        "SELECT status FROM calls WHERE id = $1", uuid.UUID(call_id)
    )
    assert status == "missed"
