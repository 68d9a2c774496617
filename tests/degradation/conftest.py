"""Fixtures for the runtime-degradation tests.

Tests that stop PostgreSQL or Redis run the app against a private server
(``tests.private_services``) that they may stop, kill and restart; never the
machine's shared ones. The private PostgreSQL is migrated by the project's
real migration runner.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from chatr_server.appkeys import DEPENDENCIES
from chatr_server.db.migrate import migrate
from chatr_server.services.dependencies import DependencyMonitor
from tests.chat.conftest import LiveClient, connect  # noqa: F401  (fixture re-export)
from tests.helpers import TestUser
from tests.private_services import PrivatePostgres, PrivateRedis


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    server.start()
    yield server
    server.close()


@pytest_asyncio.fixture(scope="module")
async def private_database(private_pg: PrivatePostgres) -> str:
    """A database on the private server, migrated by the real runner."""
    name = f"chatr_degrade_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(private_pg.dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    dsn = private_pg.dsn_for(name)
    conn = await asyncpg.connect(dsn)
    await migrate(conn)
    await conn.close()
    return dsn


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.close()


@pytest.fixture
def running_pg(private_pg: PrivatePostgres) -> PrivatePostgres:
    """The private PostgreSQL, started if an earlier test left it stopped."""
    if not (private_pg.datadir / "postmaster.pid").exists():
        private_pg.start()
    return private_pg


def monitor_of(client: Any) -> DependencyMonitor:
    return client.server.app[DEPENDENCIES]


async def until(condition: Callable[[], Awaitable[bool] | bool], timeout: float = 20.0) -> None:
    """Poll ``condition`` until true (for "the dependency came back"); fail after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)


async def open_socket(client: Any, user: TestUser, *, wait_ready: bool = True) -> LiveClient:
    """A python-socketio client on ``client``'s app (websocket transport)."""
    live = LiveClient(user)
    url = str(client.make_url("")).rstrip("/")
    await live.sio.connect(
        url, transports=["websocket"], auth={"token": user.token}, wait_timeout=5
    )
    if wait_ready:
        await live.wait("socket:ready", index=0)
    return live


async def refused_handshake(client: Any, token: str) -> Any:
    """Try a socket handshake that must be refused; returns the CONNECT_ERROR data."""
    live = LiveClient(None)
    url = str(client.make_url("")).rstrip("/")
    try:
        await live.sio.connect(url, transports=["websocket"], auth={"token": token}, wait_timeout=5)
    except Exception:  # socketio.exceptions.ConnectionError: the refusal
        pass
    try:
        return await live.wait("connect_error", index=0)
    finally:
        await live.close()


@pytest.fixture
def log_records(caplog: pytest.LogCaptureFixture) -> Callable[[], list[logging.LogRecord]]:
    """``log_records()``: the records (INFO and above) logged so far by the test itself.

    A function: pytest starts a new list for each phase (set-up, call, teardown).
    """
    caplog.set_level(logging.INFO)
    return lambda: caplog.records


def server_lines(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if r.name != "aiohttp.access" and r.levelno >= logging.INFO]


@pytest_asyncio.fixture
async def sockets() -> AsyncIterator[list[LiveClient]]:
    """Sockets a test opened with ``open_socket``; closed at the end."""
    opened: list[LiveClient] = []
    yield opened
    for live in opened:
        await live.close()
