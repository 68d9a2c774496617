"""Fixtures for the authorization tests: live sockets on one or two nodes, a support agent.

Two in-process apps started with the same settings share the database and the Redis
fan-out channel, so they behave as two nodes of one deployment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from tests.helpers import TestUser
from tests.live import LiveClient
from tests.widget.helpers import make_agent

Connect = Callable[..., Awaitable[LiveClient]]


@pytest_asyncio.fixture
async def second_node(make_client: Callable[..., Any], redis_url: str | None) -> Any:
    """Another app on the same database and Redis channel (a second node)."""
    if redis_url is None:
        pytest.skip("needs Redis")
    return await make_client()


@pytest_asyncio.fixture
async def sockets(client: Any) -> AsyncIterator[Connect]:
    """``await sockets(token, node=client)`` → a LiveClient past ``socket:ready``."""
    opened: list[LiveClient] = []

    async def connect(token: str, node: Any = None) -> LiveClient:
        live = LiveClient(None)
        opened.append(live)
        url = str((node or client).make_url("")).rstrip("/")
        await live.sio.connect(url, transports=["websocket"], auth={"token": token}, wait_timeout=5)
        await live.wait("socket:ready", index=0)
        return live

    yield connect
    for live in opened:
        await live.close()


@pytest_asyncio.fixture
async def agent(client: Any) -> TestUser:
    return await make_agent(client)
