"""Fixtures for the authorization tests: live sockets on one or two nodes, a support agent.

Two in-process apps started with the same settings share the database and the Redis
fan-out channel, so they behave as two nodes of one deployment.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import jwt
import pytest
import pytest_asyncio

from chatr_server.appkeys import SERVICES
from tests.chat.conftest import LiveClient
from tests.helpers import TestUser
from tests.widget.conftest import make_agent

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


def second_token(client: Any, user: TestUser) -> str:
    """Another valid token of ``user`` (a different ``iat``, so a different string)."""
    secret = client.server.app[SERVICES].settings.jwt_secret
    now = int(time.time()) - 60
    claims = {"userId": user.id, "username": user.username, "iat": now, "exp": now + 3600}
    return jwt.encode(claims, secret, algorithm="HS256")


async def settle(*lives: LiveClient) -> None:
    """An acknowledged round trip on each socket: whatever the server queued to it
    before is received by then (one connection delivers in order)."""
    for live in lives:
        # An event nobody handles: answered at once, by every kind of socket.
        assert await live.call("authz:ping") == {"error": "Not implemented"}


async def wait_disconnected(live: LiveClient, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while live.sio.connected:
        if time.monotonic() > deadline:
            raise TimeoutError("the socket is still connected")
        await live.sio.sleep(0.01)
