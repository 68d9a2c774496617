"""Fixtures for the runtime-degradation tests.

Tests that stop PostgreSQL or Redis run the app against a private server
(``tests.private_services``) that they may stop, kill and restart; never the
machine's shared ones. The private PostgreSQL is migrated by the project's
real migration runner.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Callable, Iterator

import asyncpg
import pytest
import pytest_asyncio

from chatr_server.db.migrate import migrate
from tests.live import LiveClient
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


@pytest.fixture
def log_records(caplog: pytest.LogCaptureFixture) -> Callable[[], list[logging.LogRecord]]:
    """``log_records()``: the records (INFO and above) logged so far by the test itself.

    A function: pytest starts a new list for each phase (set-up, call, teardown).
    """
    caplog.set_level(logging.INFO)
    return lambda: caplog.records


@pytest_asyncio.fixture
async def sockets() -> AsyncIterator[list[LiveClient]]:
    """Sockets a test opened with ``open_socket``; closed at the end."""
    opened: list[LiveClient] = []
    yield opened
    for live in opened:
        await live.close()
