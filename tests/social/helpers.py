"""Helpers for the social tests: friend requests through the API, DM rows written directly."""

from __future__ import annotations

from typing import Any

from chatr_server.appkeys import SERVICES


async def insert_dm(client: Any, sender: str, recipient: str, content: str = "hi") -> str:
    pool = client.server.app[SERVICES].pool
    row = await pool.fetchval(
        "INSERT INTO messages (sender_id, recipient_id, content) VALUES ($1, $2, $3) RETURNING id",
        sender,
        recipient,
        content,
    )
    return str(row)


async def count_dms(client: Any, a: str, b: str) -> int:
    pool = client.server.app[SERVICES].pool
    return await pool.fetchval(
        "SELECT count(*) FROM messages WHERE (sender_id = $1 AND recipient_id = $2)"
        " OR (sender_id = $2 AND recipient_id = $1)",
        a,
        b,
    )


async def request(client, sender, addressee_id):
    resp = await client.post(
        "/api/friends/request", headers=sender.auth, json={"addresseeId": addressee_id}
    )
    return resp.status, await resp.json()


async def befriend(client, a, b) -> str:
    status, body = await request(client, a, b.id)
    assert status == 201, body
    fid = body["friendship"]["id"]
    resp = await client.post(f"/api/friends/{fid}/accept", headers=b.auth)
    assert resp.status == 200
    return fid
