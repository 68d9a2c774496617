"""The owner's data the authorization matrix attacks, and a snapshot to prove it unchanged.

One :func:`build_world` makes: owner ``a`` with friend ``b`` (an accepted DM conversation,
a private text and a private attachment), a pending friend request from ``r``, a group
owned by ``a`` (member ``b``, pending invitee ``p``) with a private message and
description, a ringing call ``a``→``b``, and the support agent with a guest whose thread
is private. Every private text carries a marker that must never reach an attacker.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt

from chatr_server.appkeys import SERVICES
from tests.chat_rest.helpers import png_bytes
from tests.groups.helpers import group_with
from tests.helpers import TestUser, make_user
from tests.widget.helpers import make_agent, start_guest


@dataclass
class World:
    users: dict[str, TestUser]
    ids: dict[str, str]
    secrets: list[str] = field(default_factory=list)

    def fill(self, template: Any) -> Any:
        """``template`` with ``{name}`` placeholders replaced by ids (recursively)."""
        if isinstance(template, str):
            return template.format(**self.ids)
        if isinstance(template, dict):
            return {k: self.fill(v) for k, v in template.items()}
        if isinstance(template, list):
            return [self.fill(v) for v in template]
        return template


async def _verified(client: Any) -> TestUser:
    user = await make_user(client)
    await client.app[SERVICES].pool.execute(
        "UPDATE users SET email_verified = true WHERE id = $1", user.id
    )
    return user


async def build_world(client: Any) -> World:
    pool = client.app[SERVICES].pool
    tag = secrets.token_hex(4)
    a, b, r, p = [await _verified(client) for _ in range(4)]
    agent = await make_agent(client)
    marks = {k: f"PRIV-{k}-{tag}" for k in ("dm", "group", "desc", "support", "file")}

    fid_friend = await pool.fetchval(
        "INSERT INTO friendships (requester_id, addressee_id, status) "
        "VALUES ($1, $2, 'accepted') RETURNING id",
        a.id,
        b.id,
    )
    fid_pending = await pool.fetchval(
        "INSERT INTO friendships (requester_id, addressee_id) VALUES ($1, $2) RETURNING id",
        r.id,
        a.id,
    )
    services = client.app[SERVICES]
    conv = await services.conversations.get_or_create(pool, a.id, b.id)
    m_dm = await pool.fetchval(
        "INSERT INTO messages (sender_id, recipient_id, content) VALUES ($1, $2, $3) RETURNING id",
        a.id,
        b.id,
        marks["dm"],
    )
    form = aiohttp.FormData()
    form.add_field("file", png_bytes(), filename=f"{marks['file']}.png", content_type="image/png")
    form.add_field("recipientId", b.id)
    resp = await client.post("/api/messages/upload", data=form, headers=a.auth)
    assert resp.status == 200, await resp.text()
    m_file = (await resp.json())["messageId"]

    gid = await group_with(client, a, accepted=[b])
    resp = await client.patch(
        f"/api/groups/{gid}", json={"description": marks["desc"]}, headers=a.auth
    )
    assert resp.status == 200, await resp.text()
    resp = await client.post(f"/api/groups/{gid}/members", json={"memberId": p.id}, headers=a.auth)
    assert resp.status == 200, await resp.text()
    gm = await pool.fetchval(
        "INSERT INTO group_messages (group_id, sender_id, content, type) "
        "VALUES ($1, $2, $3, 'audio') RETURNING id",
        gid,
        a.id,
        marks["group"],
    )
    call = await pool.fetchval(
        "INSERT INTO calls (caller_id, receiver_id) VALUES ($1, $2) RETURNING id", a.id, b.id
    )
    guest = await start_guest(client, guestName="Visitor")
    resp = await client.post(
        f"/api/admin/widget-contacts/{guest['guestId']}/reply",
        json={"content": marks["support"]},
        headers=agent.auth,
    )
    assert resp.status == 200, await resp.text()
    ids = {
        "a": a.id,
        "b": b.id,
        "r": r.id,
        "p": p.id,
        "a_name": a.username,
        "agent": agent.id,
        "guest": guest["guestId"],
        "conv": str(conv["id"]),
        "fid_friend": str(fid_friend),
        "fid_pending": str(fid_pending),
        "m_dm": str(m_dm),
        "m_file": str(m_file),
        "gid": gid,
        "gm": str(gm),
        "call": str(call),
        "file_path": "messages/placeholder.png",
    }
    users = {"a": a, "b": b, "r": r, "p": p, "agent": agent}
    return World(users, ids, [*marks.values(), a.email])


async def make_current_agent(client: Any, world: World) -> None:
    """The world's agent is THE support agent again (building a world moves the role)."""
    async with client.app[SERVICES].pool.acquire() as conn, conn.transaction():
        await conn.execute("UPDATE users SET is_support = false WHERE is_support")
        await conn.execute("UPDATE users SET is_support = true WHERE id = $1", world.ids["agent"])


# Rows of the owner's data, as (table, query); rows naming an attacker are left out, so
# what an attacker may do to its own data (join as pending, block someone) is not a change.
_STATE = (
    "SELECT id, email, username, display_name, profile_image, is_support FROM users"
    " WHERE id = ANY($1::uuid[]) ORDER BY id",
    "SELECT id, requester_id, addressee_id, status FROM friendships"
    " WHERE requester_id = ANY($1::uuid[]) AND addressee_id = ANY($1::uuid[]) ORDER BY id",
    "SELECT id, status, initiator_id FROM conversations"
    " WHERE participant_a = ANY($1::uuid[]) AND participant_b = ANY($1::uuid[]) ORDER BY id",
    "SELECT id, content, status, is_read, deleted_at, edited, audio_waveform FROM messages"
    " WHERE sender_id = ANY($1::uuid[]) AND recipient_id = ANY($1::uuid[]) ORDER BY id",
    "SELECT message_id, user_id, emoji FROM message_reactions"
    " WHERE user_id = ANY($1::uuid[]) ORDER BY message_id, user_id",
    "SELECT id, name, description, owner_id, profile_image, cover_image FROM groups"
    " WHERE owner_id = ANY($1::uuid[]) ORDER BY id",
    "SELECT group_id, user_id, role, status FROM group_members"
    " WHERE user_id = ANY($1::uuid[]) ORDER BY group_id, user_id",
    "SELECT id, content, deleted_at, audio_waveform FROM group_messages"
    " WHERE sender_id = ANY($1::uuid[]) ORDER BY id",
    "SELECT id, status FROM calls"
    " WHERE caller_id = ANY($1::uuid[]) AND receiver_id = ANY($1::uuid[]) ORDER BY id",
)


async def snapshot(client: Any, world: World) -> list[list[tuple[Any, ...]]]:
    """The owner-side state: every row among the world's own users."""
    people = [world.ids[k] for k in ("a", "b", "r", "p", "agent", "guest")]
    pool = client.app[SERVICES].pool
    return [[tuple(row) for row in await pool.fetch(query, people)] for query in _STATE]


def second_token(client: Any, user: TestUser) -> str:
    """Another valid token of ``user`` (a different ``iat``, so a different string)."""
    secret = client.server.app[SERVICES].settings.jwt_secret
    now = int(time.time()) - 60
    claims = {"userId": user.id, "username": user.username, "iat": now, "exp": now + 3600}
    return jwt.encode(claims, secret, algorithm="HS256")
