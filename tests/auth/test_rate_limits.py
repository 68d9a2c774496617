"""Rate limits of the account routes, counted in Redis (and in process without it)."""

from __future__ import annotations

import secrets

import pytest
from redis.asyncio import Redis

from tests.auth.flows import post, registered, verified

LIMITED = "Too many attempts. Please try again later."


@pytest.fixture
def fresh_prefix(base_settings):
    """Each test counts in its own key space, so windows never leak between tests."""
    return f"{base_settings.redis_prefix}rl-{secrets.token_hex(4)}:"


def _xff(n: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"203.0.113.{n}"}


async def test_resend_limit_counts_in_redis(make_peers, fresh_prefix, redis_url):
    if redis_url is None:
        pytest.skip("Redis is not running")
    peers = await make_peers(rate_limits_enabled=True, redis_prefix=fresh_prefix)
    account = await registered(peers)
    remaining, statuses = [], []
    for _ in range(4):
        resp = await peers.client.post(
            "/api/auth/resend-verification", json={"userId": account.id, "type": "email"}
        )
        statuses.append(resp.status)
        remaining.append(resp.headers["X-RateLimit-Remaining"])
    assert statuses == [200, 200, 200, 429]
    assert remaining == ["2", "1", "0", "0"]
    body = await resp.json()
    assert body["error"] == LIMITED
    assert 0 < body["retryAfter"] <= 300
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        key = f"{fresh_prefix}rl:resend:127.0.0.1"
        assert await redis.get(key) == "4"
        assert 0 < await redis.pttl(key) <= 300_000
    finally:
        await redis.aclose()


async def test_resend_is_throttled_per_account_across_addresses(make_peers, fresh_prefix):
    """SEC-9: a stranger with many addresses cannot flood one account with codes."""
    peers = await make_peers(
        rate_limits_enabled=True, redis_prefix=fresh_prefix, trusted_proxy_hops=1
    )
    account = await registered(peers)
    statuses = []
    for n in range(4):
        resp = await peers.client.post(
            "/api/auth/resend-verification",
            json={"userId": account.id, "type": "email"},
            headers=_xff(n),
        )
        statuses.append(resp.status)
    assert statuses == [200, 200, 200, 429]
    assert (await resp.json())["error"] == LIMITED
    # Another account is unaffected.
    other = await registered(peers)
    status, _ = await post(
        peers.client,
        "/api/auth/resend-verification",
        {"userId": other.id, "type": "email"},
        headers=_xff(99),
    )
    assert status == 200


async def test_forwarded_for_is_ignored_without_trusted_proxies(make_client, fresh_prefix):
    client = await make_client(
        rate_limits_enabled=True, test_mode_allowed=False, redis_prefix=fresh_prefix
    )
    statuses = []
    for n in range(4):
        resp = await client.post(
            "/api/auth/forgot-password", json={"email": "x@example.com"}, headers=_xff(n)
        )
        statuses.append(resp.status)
    assert statuses == [200, 200, 200, 429]


async def test_forgot_password_limit_per_address(make_client, fresh_prefix):
    client = await make_client(
        rate_limits_enabled=True, test_mode_allowed=False, redis_prefix=fresh_prefix
    )
    statuses = []
    for _ in range(4):
        resp = await client.post("/api/auth/forgot-password", json={"email": "y@example.com"})
        statuses.append(resp.status)
        assert "X-RateLimit-Remaining" in resp.headers
    assert statuses == [200, 200, 200, 429]
    body = await resp.json()
    assert body["error"] == LIMITED and 0 < body["retryAfter"] <= 900


async def test_forgot_password_per_account_throttle_is_silent(make_peers, fresh_prefix):
    peers = await make_peers(
        rate_limits_enabled=True, redis_prefix=fresh_prefix, trusted_proxy_hops=1
    )
    account, _ = await verified(peers)
    before = len(peers.emails)
    bodies = []
    for n in range(5):
        status, body = await post(
            peers.client, "/api/auth/forgot-password", {"email": account.email}, headers=_xff(n)
        )
        assert status == 200
        bodies.append(body)
    assert all(b == bodies[0] for b in bodies)
    assert len(peers.emails) == before + 3


async def test_verify_routes_are_limited_per_address(make_client, fresh_prefix):
    """SEC-18: the public code-checking routes get a per-address ceiling too."""
    client = await make_client(
        rate_limits_enabled=True, test_mode_allowed=False, redis_prefix=fresh_prefix
    )
    body = {"userId": "00000000-0000-4000-8000-000000000000", "code": "123456"}
    statuses = [(await client.post("/api/auth/verify-email", json=body)).status for _ in range(30)]
    assert set(statuses) == {404}
    resp = await client.post("/api/auth/verify-phone", json=body)
    assert resp.status == 429
    resp = await client.post(
        "/api/auth/reset-password",
        json={"email": "a@b.co", "code": "123456", "newPassword": "Valid!Pass1"},
    )
    assert resp.status == 429


async def test_limits_count_in_process_without_redis(make_client):
    client = await make_client(redis_url=None, rate_limits_enabled=True, test_mode_allowed=False)
    statuses = []
    for _ in range(4):
        resp = await client.post("/api/auth/forgot-password", json={"email": "z@example.com"})
        statuses.append(resp.status)
    assert statuses == [200, 200, 200, 429]


async def test_limits_are_off_in_test_mode(make_client, fresh_prefix):
    client = await make_client(
        rate_limits_enabled=True, test_mode_allowed=True, redis_prefix=fresh_prefix
    )
    for _ in range(5):
        resp = await client.post("/api/auth/forgot-password", json={"email": "t@example.com"})
        assert resp.status == 200
        assert "X-RateLimit-Remaining" not in resp.headers
