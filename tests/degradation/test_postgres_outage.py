"""PostgreSQL stopped or restarted under the app: brief retryable refusals, no false
authentication errors, nothing acknowledged lost, and a few log lines per outage.

Each test runs the app against a private PostgreSQL cluster (never the shared
one) that it stops and starts.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import pytest_asyncio

from chatr_server.appkeys import SERVICES
from chatr_server.services.dependencies import POSTGRES
from tests.degradation.helpers import monitor_of, open_socket, refused_handshake, server_lines
from tests.helpers import PASSWORD, make_user, unique_username, until
from tests.live import server_settled, settle

UNAVAILABLE = {"error": "Service temporarily unavailable"}


@pytest_asyncio.fixture
async def pg_client(make_client, running_pg, private_database) -> Any:
    """The app on the private PostgreSQL, with the in-process store (no Redis)."""
    return await make_client(database_url=private_database, redis_url=None)


def _tracebacks(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if r.exc_info or r.levelno >= logging.ERROR]


async def _register_body() -> dict[str, str]:
    name = unique_username()
    return {
        "email": f"{name}@example.com",
        "username": name,
        "password": PASSWORD,
        "firstName": "Out",
        "lastName": "Age",
    }


async def test_rest_answers_503_with_retry_after_and_recovers(
    pg_client, running_pg, server_errors, log_records
):
    user = await make_user(pg_client)
    monitor = monitor_of(pg_client)
    running_pg.stop()
    try:
        resp = await pg_client.get("/api/users/me", headers=user.auth)
        assert resp.status == 503
        assert await resp.json() == UNAVAILABLE
        assert 1 <= int(resp.headers["Retry-After"]) <= 10
        # Token checks need the revocation state: an outage is a 503, never a 401/403.
        resp = await pg_client.get("/api/friends", headers=user.auth)
        assert resp.status == 503
        resp = await pg_client.post("/api/auth/register", json=await _register_body())
        assert (resp.status, await resp.json()) == (503, UNAVAILABLE)
        resp = await pg_client.post(
            "/api/auth/login", json={"email": user.email, "password": PASSWORD}
        )
        assert resp.status == 503
        assert not monitor.is_up(POSTGRES)
        assert monitor.down_since(POSTGRES) is not None
        assert monitor.snapshot()[POSTGRES]["refused"] >= 4
    finally:
        running_pg.start()
    server_errors.clear()  # the 503s above were expected
    await until(lambda: monitor.is_up(POSTGRES))
    resp = await pg_client.get("/api/users/me", headers=user.auth)
    assert resp.status == 200
    assert _tracebacks(log_records()) == []
    messages = [r.getMessage() for r in server_lines(log_records())]
    assert sum("postgres is unreachable" in m for m in messages) == 1
    assert sum("postgres is back after" in m for m in messages) == 1


async def test_sockets_are_refused_without_an_authentication_error(
    pg_client, running_pg, server_errors, sockets, log_records
):
    alice = await make_user(pg_client)
    bob = await make_user(pg_client)
    live = await open_socket(pg_client, alice)
    sockets.append(live)
    running_pg.stop()
    try:
        # A valid token while the user row cannot be read: retryable, not an auth failure.
        refusal = await refused_handshake(pg_client, alice.token)
        assert refusal == {"message": "Service temporarily unavailable"}
        # A bad token is still an authentication error: its signature needs no database.
        refusal = await refused_handshake(pg_client, "garbage")
        assert refusal == {"message": "Authentication error: Invalid token"}
        # Events on a connected socket get their usual error; acks the REST text.
        await live.emit("message:send", {"recipientId": bob.id, "content": "hi", "tempId": "o1"})
        assert await live.wait("error") == {"message": "Failed to send message"}
        assert await live.call("users:me") == UNAVAILABLE
        assert live.sio.connected
    finally:
        running_pg.start()
    server_errors.clear()
    await until(lambda: monitor_of(pg_client).is_up(POSTGRES))
    # The same socket works again; the refused send can be retried with its temp id.
    await live.emit("message:send", {"recipientId": bob.id, "content": "hi", "tempId": "o1"})
    assert (await live.wait("message:sent"))["tempId"] == "o1"
    again = await open_socket(pg_client, alice)
    sockets.append(again)
    assert _tracebacks(log_records()) == []


async def test_a_restart_does_not_fail_the_first_batch(pg_client, running_pg, sockets, log_records):
    alice = await make_user(pg_client)
    bob = await make_user(pg_client)
    live = await open_socket(pg_client, alice)
    sockets.append(live)
    await live.emit("message:send", {"recipientId": bob.id, "content": "before", "tempId": "r0"})
    assert (await live.wait("message:sent"))["tempId"] == "r0"
    running_pg.restart()  # closes every connection, the batch writer's included
    await live.emit("message:send", {"recipientId": bob.id, "content": "after", "tempId": "r1"})
    assert (await live.wait("message:sent"))["tempId"] == "r1"
    await live.emit("message:send", {"recipientId": bob.id, "content": "no temp id"})
    assert "tempId" not in await live.wait("message:sent")
    assert live.events["error"] == []
    pool = pg_client.server.app[SERVICES].pool
    rows = await pool.fetch(
        "SELECT content FROM messages WHERE sender_id = $1 ORDER BY created_at", alice.id
    )
    assert [r["content"] for r in rows] == ["before", "after", "no temp id"]
    assert _tracebacks(log_records()) == []


async def test_an_outage_under_load_logs_a_few_lines(
    pg_client, running_pg, server_errors, sockets, log_records
):
    """Hundreds of refused sends, requests and handshakes: state-change lines only.

    (The target is at most 100 lines for a 20 s outage at 40 msg/s; the sends here
    are closed-loop, each as soon as the previous one was refused.)
    """
    alice = await make_user(pg_client)
    bob = await make_user(pg_client)
    live = await open_socket(pg_client, alice)
    sockets.append(live)
    monitor = monitor_of(pg_client)
    monitor.report_every = 0.5  # the periodic report, without waiting 10 s
    before = len(server_lines(log_records()))
    running_pg.stop()
    refused = 0
    try:
        for n in range(300):
            await live.emit(
                "message:send", {"recipientId": bob.id, "content": f"m{n}", "tempId": f"L{n}"}
            )
            assert await live.wait("error") == {"message": "Failed to send message"}
            refused += 1
            if n % 10 == 0:
                resp = await pg_client.get("/api/users/me", headers=alice.auth)
                assert resp.status == 503
                refused += 1
            if n % 30 == 0:
                assert (await refused_handshake(pg_client, alice.token))["message"] == (
                    "Service temporarily unavailable"
                )
                refused += 1
        await until(
            lambda: any("still unreachable" in r.getMessage() for r in log_records()), timeout=10
        )
    finally:
        running_pg.start()
    server_errors.clear()
    await until(lambda: monitor.is_up(POSTGRES))
    await live.emit("message:send", {"recipientId": bob.id, "content": "back", "tempId": "Lb"})
    assert (await live.wait("message:sent"))["tempId"] == "Lb"
    lines = server_lines(log_records())[before:]
    messages = [f"{r.levelname} {r.name}: {r.getMessage()}" for r in lines]
    assert refused > 300
    assert len(lines) <= 20, messages
    assert sum("postgres is unreachable" in m for m in messages) == 1, messages
    assert sum("postgres is back after" in m for m in messages) == 1, messages
    assert any("still unreachable" in m and "refused" in m for m in messages), messages
    assert _tracebacks(lines) == []


async def test_waiting_for_a_pooled_connection_is_bounded(make_client, server_errors, log_records):
    """A pool with no free connection answers 503 after the pool timeout, not never."""
    client = await make_client(database_pool_size=1, database_pool_timeout=0.3)
    user = await make_user(client)
    pool: asyncpg.Pool = client.server.app[SERVICES].pool
    held = await pool.acquire(timeout=5)
    try:
        resp = await client.get("/api/users/me", headers=user.auth)
        assert (resp.status, await resp.json()) == (503, UNAVAILABLE)
    finally:
        await pool.release(held)
    server_errors.clear()
    await until(lambda: monitor_of(client).is_up(POSTGRES))
    resp = await client.get("/api/users/me", headers=user.auth)
    assert resp.status == 200
    assert _tracebacks(log_records()) == []


async def test_handshake_with_a_revoked_token_stays_an_authentication_error(pg_client):
    user = await make_user(pg_client)
    resp = await pg_client.post("/api/auth/logout", headers=user.auth)
    assert resp.status == 200
    refusal = await refused_handshake(pg_client, user.token)
    assert refusal["message"].startswith("Authentication error")


async def test_disconnects_during_an_outage_are_quiet_and_leave_no_state(
    pg_client, running_pg, sockets, log_records
):
    """Last disconnects share one statement; with PostgreSQL down it fails for all of
    them at once: no traceback, presence still forgets them, later ones work."""
    watcher, *leavers = [await make_user(pg_client) for _ in range(4)]
    pool = pg_client.server.app[SERVICES].pool
    for user in leavers:
        await pool.execute(
            "INSERT INTO friendships (requester_id, addressee_id, status) "
            "VALUES ($1, $2, 'accepted')",
            user.id,
            watcher.id,
        )
    w = await open_socket(pg_client, watcher)
    sockets.append(w)
    lives = [await open_socket(pg_client, u) for u in leavers]
    running_pg.stop()
    try:
        await server_settled(pg_client, *lives)
    finally:
        running_pg.start()
    presence = pg_client.server.app[SERVICES].presence
    assert [await presence.is_online(u.id) for u in leavers] == [False] * len(leavers)
    await until(lambda: monitor_of(pg_client).is_up(POSTGRES))
    # After the outage a disconnect stores and announces as usual.
    again = await open_socket(pg_client, leavers[0])
    await server_settled(pg_client, again)
    await settle(w)
    offline = [s for s in w.events["user:status"] if s["status"] == "offline"]
    assert [s["userId"] for s in offline] == [leavers[0].id]
    assert _tracebacks(log_records()) == []
