"""Test harness: real PostgreSQL and Redis, one fresh database per test run.

The database server is ``DATABASE_URL`` when set, else the local one on
127.0.0.1:5432 when it answers, else an embedded server (pgserver). Redis is
``REDIS_URL``, else 127.0.0.1:6379 when it answers, else the in-process
store. Each run creates its own database and Redis key prefix and removes
both at the end, so runs never see each other's data.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from redis.asyncio import Redis

from chatr_server.app import create_app
from chatr_server.db.migrate import migrate
from chatr_server.settings import Settings
from tests.helpers import RecordingBus, database_dsn
from tests.oracle import watch_responses
from tests.private_services import PrivateRedisCluster

# Fixtures every test folder may use: live Socket.IO clients, and loopback SMTP,
# Twilio and S3 peers.
pytest_plugins = ["tests.live", "tests.peers"]

LOCAL_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


async def _answers(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


@pytest_asyncio.fixture(scope="session")
async def pg_server_dsn() -> AsyncIterator[str]:
    """A maintenance DSN of the PostgreSQL server the tests use."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    if await _answers(LOCAL_PG):
        yield LOCAL_PG
        return
    from chatr_server.db.embedded import EmbeddedPostgres

    folder = Path(tempfile.mkdtemp(prefix="chatr-pg-", dir=Path.cwd() / "var"))
    embedded = EmbeddedPostgres(folder)
    dsn = await embedded.start()
    yield dsn
    await embedded.stop()


@pytest_asyncio.fixture(scope="session")
async def database_url(pg_server_dsn: str) -> AsyncIterator[str]:
    """A fresh database for this run, migrated by the real runner, dropped afterwards."""
    name = f"chatr_test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(pg_server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = database_dsn(pg_server_dsn, name)
    conn = await asyncpg.connect(dsn)
    await migrate(conn)
    await conn.close()
    yield dsn
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@pytest_asyncio.fixture
async def empty_db(pg_server_dsn: str) -> AsyncIterator[str]:
    """A new, unmigrated database for one test (migration and install tests)."""
    name = f"chatr_mig_{secrets.token_hex(5)}"
    admin = await asyncpg.connect(pg_server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    yield database_dsn(pg_server_dsn, name)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@pytest_asyncio.fixture(scope="session")
async def redis_url() -> AsyncIterator[str | None]:
    url = os.environ.get("REDIS_URL") or LOCAL_REDIS
    client = Redis.from_url(url, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception:
        await client.aclose()
        if os.environ.get("REDIS_URL"):
            raise
        yield None
        return
    await client.aclose()
    yield url


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """A private 3-master Redis Cluster for this test session (never the shared Redis)."""
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server for a private cluster")
    cluster = PrivateRedisCluster(3)
    try:
        cluster.start()
        yield cluster.url
    finally:
        cluster.close()


@pytest.fixture(params=["redis", "redis-cluster"])
def scaleout_redis(request: pytest.FixtureRequest, redis_url: str | None) -> tuple[str, bool]:
    """(url, is a cluster): scale-out tests run on a single Redis and on a Redis Cluster."""
    if request.param == "redis":
        if redis_url is None:
            pytest.skip("needs Redis")
        return redis_url, False
    return request.getfixturevalue("redis_cluster_url"), True


@pytest_asyncio.fixture(scope="session")
async def redis_prefix(redis_url: str | None) -> AsyncIterator[str]:
    prefix = f"chatr-test-{secrets.token_hex(6)}:"
    yield prefix
    if redis_url:
        client = Redis.from_url(redis_url)
        async for key in client.scan_iter(match=prefix + "*", count=500):
            await client.delete(key)
        await client.aclose()


@pytest.fixture(scope="session")
def base_settings(
    database_url: str,
    redis_url: str | None,
    redis_prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    root = tmp_path_factory.mktemp("chatr")
    return Settings(
        database_url=database_url,
        database_pool_size=5,
        redis_url=redis_url,
        redis_prefix=redis_prefix,
        jwt_secret=secrets.token_urlsafe(48),
        bcrypt_rounds=4,
        data_dir=root / "var",
        uploads_dir=root / "uploads",
        test_mode_allowed=True,
        rate_limits_enabled=False,
    )


@pytest.fixture
def server_errors() -> list[str]:
    """Every 5xx response the app sent during a test (a test that expects one clears it)."""
    return []


@pytest.fixture(autouse=True)
def _no_server_errors(server_errors: list[str]) -> Any:
    """Bad input must never produce a 500: any 5xx in a test fails it."""
    yield
    assert not server_errors, f"requests answered with a server error: {server_errors}"


@pytest.fixture
def schema_violations() -> list[str]:
    """Every departure of a JSON response or an emitted event from its declared schema."""
    return []


@pytest.fixture(autouse=True)
def _responses_fit_schemas(schema_violations: list[str]) -> Any:
    """The declared schemas are the oracle: any response or event off its schema fails the test."""
    yield
    assert not schema_violations, "\n".join(schema_violations)


@pytest.fixture
def recording_bus(schema_violations: list[str]) -> RecordingBus:
    """Every event the services of this test's apps emitted (see ``bus``), each checked
    against the event's registered payload schema."""
    return RecordingBus(violations=schema_violations)


@pytest.fixture
def make_client(
    aiohttp_client: Any,
    base_settings: Settings,
    server_errors: list[str],
    recording_bus: RecordingBus,
    schema_violations: list[str],
) -> Callable[..., Any]:
    """Start the real app (via the factory) with settings overrides; returns a test client.

    The app's one event bus is wrapped by ``recording_bus`` before any service gets it,
    and every JSON response is checked against the schema its route declares for the
    status (``schema_violations``).
    """

    async def record_5xx(request: Any, response: Any) -> None:
        if response.status >= 500:
            server_errors.append(f"{request.method} {request.path} -> {response.status}")

    async def factory(**overrides: Any) -> Any:
        settings = replace(base_settings, **overrides)
        app = create_app(settings, wrap_bus=recording_bus.wrap)
        app.on_response_prepare.append(record_5xx)
        watch_responses(app, schema_violations)
        return await aiohttp_client(app)

    return factory


@pytest_asyncio.fixture
async def client(make_client: Callable[..., Any]) -> Any:
    return await make_client()


@pytest.fixture
def bus(client: Any, recording_bus: RecordingBus) -> RecordingBus:
    """What the services of ``client``'s app emitted (they are delivered to sockets too)."""
    return recording_bus
