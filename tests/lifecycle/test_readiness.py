"""``GET /api/health/ready``: 200 only when this node can serve (issue 12).

The dependency checks stop and restart PostgreSQL and Redis, so they run against
private servers of their own (tests/private_services.py), never the shared ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatr_server.db import migrate
from chatr_server.lifecycle import LIFECYCLE
from tests.private_services import PrivatePostgres, PrivateRedis


async def _ready(client: Any) -> tuple[int, dict[str, Any]]:
    resp = await client.get("/api/health/ready")
    assert resp.headers["Cache-Control"] == "no-store"
    return resp.status, await resp.json()


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres()
    pg.start()
    yield pg
    pg.close()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    redis = PrivateRedis()
    redis.start()
    yield redis
    redis.close()


async def test_ready_when_everything_answers(client: Any, redis_url: str | None) -> None:
    status, body = await _ready(client)
    assert status == 200, body
    assert body == {
        "status": "ready",
        "checks": {
            "database": "ok",
            "migrations": "ok",
            "redis": "ok" if redis_url else "not configured",
            "draining": False,
        },
    }


async def test_a_draining_node_is_not_ready_but_still_alive(
    client: Any, server_errors: list[str]
) -> None:
    client.app[LIFECYCLE].begin_drain()
    status, body = await _ready(client)
    assert (status, body["status"], body["checks"]["draining"]) == (503, "not ready", True)
    assert body["checks"]["database"] == "ok"
    assert (await client.get("/api/health")).status == 200  # liveness is unchanged
    server_errors.clear()  # the 503 is the expected answer


async def test_pending_migrations_make_the_node_not_ready(
    client: Any, server_errors: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = migrate.discover()
    newer = migrate.Migration("9999", Path("9999_from_a_newer_release.sql"))
    monkeypatch.setattr(migrate, "discover", lambda folder=None: [*shipped, newer])
    status, body = await _ready(client)
    assert status == 503
    assert body["checks"]["migrations"] == "pending"
    assert body["checks"]["database"] == "ok"
    server_errors.clear()


async def test_database_down_then_back(
    make_client: Any, private_pg: PrivatePostgres, server_errors: list[str]
) -> None:
    client = await make_client(database_url=private_pg.dsn, redis_url=None)
    assert (await _ready(client))[0] == 200
    private_pg.stop()
    status, body = await _ready(client)
    assert status == 503
    assert body["checks"]["database"] == "down"
    assert body["checks"]["migrations"] == "unknown"
    private_pg.start()
    status, body = await _ready(client)
    assert status == 200, body
    server_errors.clear()


async def test_redis_down_then_back(
    make_client: Any, private_redis: PrivateRedis, server_errors: list[str]
) -> None:
    client = await make_client(redis_url=private_redis.url)
    status, body = await _ready(client)
    assert (status, body["checks"]["redis"]) == (200, "ok")
    private_redis.kill()
    status, body = await _ready(client)
    assert (status, body["checks"]["redis"]) == (503, "down")
    assert body["checks"]["database"] == "ok"
    private_redis.start()
    status, body = await _ready(client)
    assert (status, body["checks"]["redis"]) == (200, "ok")
    server_errors.clear()


async def test_readiness_is_in_the_openapi_spec(client: Any) -> None:
    spec = await (await client.get("/api/openapi.json")).json()
    operation = spec["paths"]["/api/health/ready"]["get"]
    assert set(operation["responses"]) == {"200", "503"}
    assert "Readiness" in spec["components"]["schemas"]
