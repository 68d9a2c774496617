"""Concurrent handshakes share one query; a connect storm keeps presence semantics
(events.md §2–3, behaviors.md §3)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import socketio

from chatr_server.appkeys import SERVICES
from chatr_server.errors import ServiceError
from chatr_server.services.tokens import TokenService
from tests.helpers import TestUser, make_user
from tests.live import LiveClient, settle


async def _logged_out(client: Any) -> TestUser:
    user = await make_user(client)
    await client.post("/api/auth/logout", headers=user.auth)
    return user


async def _deleted(client: Any) -> TestUser:
    user = await make_user(client)
    await client.delete(f"/api/test/user/{user.id}")
    return user


def _batch_sizes(client: Any) -> list[int]:
    """The sizes of the handshake batches from now on."""
    sizes: list[int] = []
    client.app[SERVICES].auth._socket_logins._on_batch = sizes.append
    return sizes


async def test_one_query_answers_each_handshake_for_its_own_token(client):
    users = [await make_user(client) for _ in range(6)]
    revoked, gone = await _logged_out(client), await _deleted(client)
    secret = client.app[SERVICES].settings.jwt_secret
    stranger = TokenService(secret).issue_user_token(str(uuid.uuid4()), "@nobody")
    tokens = [u.token for u in users] + [revoked.token, gone.token, stranger, "garbage"]
    sizes = _batch_sizes(client)
    auth = client.app[SERVICES].auth
    # One loop pass: every well-signed token joins the same batch.
    results = await asyncio.gather(*(auth.socket_login(t) for t in tokens), return_exceptions=True)
    assert sizes == [9]  # "garbage" never reaches the database
    for user, login in zip(users, results, strict=False):
        assert login.user.id == user.id and login.profile.id == user.id
        assert login.profile.username == user.username and login.hidden is False
        assert login.visible == []
    refused_revoked, gone_login, stranger_login, garbage = results[6:]
    assert isinstance(refused_revoked, ServiceError)
    assert refused_revoked.message == "Token has been revoked"
    assert gone_login.profile is None and stranger_login.profile is None
    assert isinstance(garbage, ServiceError) and garbage.message == "Invalid or expired token"


async def _open_all(client: Any, cases: list[tuple[TestUser | None, str]]) -> list[LiveClient]:
    """Open a socket per (user, token) at once; refused ones keep their connect_error."""
    url = str(client.make_url("")).rstrip("/")
    lives = [LiveClient(user) for user, _ in cases]

    async def one(live: LiveClient, token: str) -> None:
        try:
            await live.sio.connect(url, transports=["websocket"], auth={"token": token})
        except socketio.exceptions.ConnectionError:
            return
        await live.wait("socket:ready", index=0)

    await asyncio.gather(*(one(live, t) for live, (_, t) in zip(lives, cases, strict=True)))
    return lives


async def test_concurrent_sockets_each_get_their_own_user_or_refusal(client):
    users = [await make_user(client) for _ in range(8)]
    revoked, gone = await _logged_out(client), await _deleted(client)
    cases: list[tuple[TestUser | None, str]] = [(u, u.token) for u in users]
    cases += [(revoked, revoked.token), (gone, gone.token), (None, "garbage")]
    sizes = _batch_sizes(client)
    lives = await _open_all(client, cases)
    try:
        assert sum(sizes) == len(cases) - 1  # every well-signed token was looked up once
        for user, live in zip(users, lives, strict=False):
            assert live.events["socket:ready"] == [{"userId": user.id}]
            assert live.events["presence:update"] == [{"status": "online", "onlineUsers": []}]
            assert live.events["connect_error"] == [] and live.violations == []
        assert [live.events["connect_error"] for live in lives[8:]] == [
            [{"message": "Authentication error: Invalid token"}],
            [{"message": "Authentication error: User not found"}],
            [{"message": "Authentication error: Invalid token"}],
        ]
        assert all(live.events["socket:ready"] == [] for live in lives[8:])
    finally:
        for live in lives:
            await live.close()


async def _pair(client: Any, a: TestUser, b: TestUser, status: str, initiator: TestUser) -> None:
    await client.app[SERVICES].pool.execute(
        "INSERT INTO conversations (participant_a, participant_b, initiator_id, status)"
        " VALUES (LEAST($1::uuid, $2::uuid), GREATEST($1::uuid, $2::uuid), $3, $4)",
        uuid.UUID(a.id),
        uuid.UUID(b.id),
        uuid.UUID(initiator.id),
        status,
    )


def _snapshot(live: LiveClient) -> set[str]:
    return {e["userId"] for e in live.events["presence:update"][0]["onlineUsers"]}


def _online_from(live: LiveClient) -> set[str]:
    return {e["userId"] for e in live.events["user:status"] if e["status"] == "online"}


async def test_a_connect_storm_keeps_snapshot_and_status_rules(client, connect):
    """Per group: U with an accepted contact A, a hidden accepted contact H, a pending
    conversation U→P (P ∈ P(U)) and one Q→U (U ∈ P(Q)); every socket at once."""
    groups = []
    for _ in range(4):
        u, a, h, p, q = [await make_user(client) for _ in range(5)]
        await _pair(client, u, a, "accepted", u)
        await _pair(client, u, h, "accepted", h)
        await _pair(client, u, p, "pending", u)
        await _pair(client, u, q, "pending", q)
        await client.app[SERVICES].pool.execute(
            "UPDATE users SET privacy_online_status = 'nobody' WHERE id = $1", uuid.UUID(h.id)
        )
        groups.append((u, a, h, p, q))
    everyone = [user for group in groups for user in group]
    lives = dict(
        zip(
            (user.id for user in everyone),
            await asyncio.gather(*(connect(user) for user in everyone)),
            strict=True,
        )
    )
    # Each connect announced itself before its socket:ready: once all are ready and
    # every socket settled, every user:status has arrived.
    await settle(*lives.values())
    for u, a, h, p, q in groups:
        lu, la, lh, lp, lq = (lives[x.id] for x in (u, a, h, p, q))
        # Accepted contacts know each other are online: snapshot or live event.
        assert a.id in _snapshot(lu) | _online_from(lu)
        assert u.id in _snapshot(la) | _online_from(la)
        # A hidden user is in no snapshot and announces nothing; H itself sees U.
        assert all(h.id not in _snapshot(x) | _online_from(x) for x in lives.values())
        assert u.id in _snapshot(lh) | _online_from(lh)
        # U→P pending: U does not see P in its snapshot, P gets no live status of U.
        assert p.id not in _snapshot(lu) and u.id not in _online_from(lp)
        # Q→U pending: U gets no live status of Q, Q does not see U in its snapshot.
        assert q.id not in _online_from(lu) and u.id not in _snapshot(lq)
        for live in (lu, la, lh, lp, lq):
            assert len(live.events["socket:ready"]) == 1
            assert len(live.events["presence:update"]) == 1
        # Nobody hears about strangers (other groups).
        group_ids = {x.id for x in (u, a, h, p, q)}
        for live in (lu, la, lh, lp, lq):
            assert _snapshot(live) | _online_from(live) <= group_ids
