"""Redis configured but killed: what PostgreSQL and local memory can do keeps working.

Each test runs the app against a private redis-server it kills and restarts
(the database is the suite's shared one: only Redis goes away here).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from typing import Any

import pytest_asyncio
from redis.asyncio import Redis

from chatr_server.appkeys import SERVICES
from chatr_server.services.dependencies import REDIS
from tests.degradation.helpers import monitor_of, open_socket, server_lines
from tests.helpers import PASSWORD, make_user, register, unique_username, until
from tests.private_services import PrivateRedis


@pytest_asyncio.fixture
async def redis_app(private_redis: PrivateRedis, make_client) -> Any:
    """``await redis_app(**overrides)``: an app on the private Redis, with its own key prefix.

    Asks for the Redis first, so the apps close before it is torn down.
    """
    prefix = f"chatr-degrade-{secrets.token_hex(4)}:"

    async def factory(**overrides: Any) -> Any:
        options = {"redis_url": private_redis.url, "redis_prefix": prefix, **overrides}
        return await make_client(**options)

    factory.prefix = prefix  # type: ignore[attr-defined]
    return factory


def _tracebacks(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if r.exc_info or r.levelno >= logging.ERROR]


async def test_login_and_registration_work_without_redis(redis_app, private_redis, log_records):
    client = await redis_app()  # test mode on: the bypass code is read from the store
    existing = await make_user(client)
    private_redis.kill()
    user = await make_user(client)  # registers, then logs in with the bypass code
    assert user.token
    resp = await client.post(
        "/api/auth/login",
        json={"email": existing.email, "password": PASSWORD, "loginVerificationCode": "000000"},
    )
    assert resp.status == 200
    assert (await client.get("/api/users/me", headers=user.auth)).status == 200
    assert _tracebacks(log_records()) == []


async def test_rate_limits_fail_open_with_one_log_line(redis_app, private_redis, log_records):
    client = await redis_app(test_mode_allowed=False, rate_limits_enabled=True)
    private_redis.kill()
    for _ in range(3):
        name = unique_username()
        status, body, _ = await register(client, email=f"{name}@example.com", username=name)
        assert status == 201, body
    lines = [r.getMessage() for r in server_lines(log_records())]
    assert sum("rate-limit store unavailable" in m for m in lines) == 1, lines
    assert _tracebacks(log_records()) == []


async def test_dms_are_stored_and_acknowledged_while_redis_is_down(
    redis_app, private_redis, sockets, log_records
):
    """Offline recipients and recipients on another node: stored, acknowledged, and
    cross-node live delivery resumes once Redis is back."""
    node_a = await redis_app()
    node_b = await redis_app()
    alice = await make_user(node_a)
    bob = await make_user(node_a)  # connected to the other node
    carol = await make_user(node_a)  # not connected at all
    on_a = await open_socket(node_a, alice)
    on_b = await open_socket(node_b, bob)
    sockets.extend((on_a, on_b))
    private_redis.kill()
    await on_a.emit("message:send", {"recipientId": carol.id, "content": "to carol", "tempId": "c"})
    sent = await on_a.wait("message:sent")
    assert (sent["tempId"], sent["status"]) == ("c", "sent")
    await on_a.emit("message:send", {"recipientId": bob.id, "content": "to bob", "tempId": "b1"})
    assert (await on_a.wait("message:sent"))["tempId"] == "b1"
    assert on_a.events["error"] == []
    pool = node_a.server.app[SERVICES].pool
    stored = await pool.fetch(
        "SELECT content FROM messages WHERE sender_id = $1 ORDER BY created_at", alice.id
    )
    assert [r["content"] for r in stored] == ["to carol", "to bob"]

    private_redis.start()
    await until(lambda: monitor_of(node_a).is_up(REDIS))
    # Cross-node fan-out is at most once (what was queued during the outage may or may
    # not arrive late): send until the resubscribed node gets a new one live.
    attempt = 0

    async def delivered() -> bool:
        nonlocal attempt
        attempt += 1
        await on_a.emit(
            "message:send",
            {"recipientId": bob.id, "content": "live again", "tempId": f"b2-{attempt}"},
        )
        await on_a.wait("message:sent")
        return any(m["content"] == "live again" for m in on_b.events["message:received"])

    await until(delivered)
    assert _tracebacks(log_records()) == []


async def test_presence_falls_back_to_the_node_and_resyncs(
    redis_app, private_redis, sockets, log_records
):
    client = await redis_app()
    alice = await make_user(client)
    bob = await make_user(client)
    live = await open_socket(client, alice)
    sockets.append(live)
    presence = client.server.app[SERVICES].presence
    private_redis.kill()
    # Known locally: alice is online on this node, and her record is still readable.
    assert await presence.is_online(alice.id)
    assert (await presence.record(alice.id))["status"] == "online"
    assert not await presence.is_online(bob.id)
    # A presence change while Redis is down is kept locally...
    await live.emit("presence:update", "away")
    await until(lambda: presence._records[alice.id][0] == "away")
    # ...and a new connection still completes the connect sequence.
    bob_live = await open_socket(client, bob)
    sockets.append(bob_live)
    assert await presence.is_online(bob.id)

    private_redis.start()  # a fresh, empty Redis: everything this node knew is gone
    monitor = monitor_of(client)
    await until(lambda: monitor.is_up(REDIS))
    raw = Redis.from_url(private_redis.url, decode_responses=True)
    prefix = redis_app.prefix
    try:

        async def resynced() -> bool:
            counts = await raw.hgetall(f"{prefix}pconn:{alice.id}")
            record = await raw.hgetall(f"{prefix}presence:{alice.id}")
            return counts.get(presence.node_id) == "1" and record.get("status") == "away"

        await until(resynced)
        assert await raw.exists(f"{prefix}node:{presence.node_id}")
        assert await raw.hgetall(f"{prefix}pconn:{bob.id}") == {presence.node_id: "1"}
    finally:
        await raw.aclose()
    lines = [r.getMessage() for r in server_lines(log_records())]
    assert sum("redis is unreachable" in m for m in lines) == 1, lines
    assert sum("redis is back after" in m for m in lines) == 1, lines
    assert _tracebacks(log_records()) == []


async def test_connect_snapshot_uses_the_node_records_while_redis_is_down(
    redis_app, private_redis, sockets, log_records
):
    """The connect pipeline fails as a whole: the snapshot and the announcement still
    come from what this node knows."""
    client = await redis_app()
    alice, bob = await make_user(client), await make_user(client)
    await client.server.app[SERVICES].pool.execute(
        "INSERT INTO friendships (requester_id, addressee_id, status) VALUES ($1, $2, 'accepted')",
        uuid.UUID(alice.id),
        uuid.UUID(bob.id),
    )
    on_a = await open_socket(client, alice)
    sockets.append(on_a)
    private_redis.kill()
    on_b = await open_socket(client, bob)
    sockets.append(on_b)
    assert on_b.events["presence:update"][0] == {
        "status": "online",
        "onlineUsers": [{"userId": alice.id, "status": "online"}],
    }
    online = await on_a.wait("user:status")
    assert (online["userId"], online["status"]) == (bob.id, "online")
    assert _tracebacks(log_records()) == []
