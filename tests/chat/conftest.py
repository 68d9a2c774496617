"""Real Socket.IO clients (python-socketio) against the real app over real sockets."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
import socketio

from tests.helpers import TestUser
from tests.oracle import event_mismatches


class LiveClient:
    """A connected python-socketio client that records every event it receives."""

    def __init__(self, user: TestUser | None) -> None:
        self.user = user
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: dict[str, list[Any]] = defaultdict(list)
        #: received payloads off their event schema (the fixture fails the test on any)
        self.violations: list[str] = []
        self._cursor: dict[str, int] = defaultdict(int)

        @self.sio.on("connect_error")
        async def connect_error(data: Any) -> None:
            self.events["connect_error"].append(data)

        @self.sio.on("*")
        async def catch_all(event: str, *args: Any) -> None:
            payload = args[0] if len(args) == 1 else list(args)
            self.violations.extend(event_mismatches(event, payload))
            self.events[event].append(payload)

    async def wait(self, event: str, timeout: float = 5.0, index: int | None = None) -> Any:
        """The next not yet consumed payload of ``event`` (or the ``index``-th one)."""
        position = self._cursor[event] if index is None else index
        await self.wait_count(event, position + 1, timeout)
        if index is None:
            self._cursor[event] += 1
        return self.events[event][position]

    async def wait_count(self, event: str, count: int, timeout: float = 5.0) -> list[Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.events[event]) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{event}: {len(self.events[event])} of {count}")
            await asyncio.sleep(0.01)
        return self.events[event]

    async def emit(self, event: str, data: Any = None) -> None:
        await self.sio.emit(event, data)

    async def call(self, event: str, data: Any = None, timeout: float = 5.0) -> Any:
        return await self.sio.call(event, data, timeout=timeout)

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


@pytest_asyncio.fixture
async def connect(client: Any, schema_violations: list[str]) -> AsyncIterator[Any]:
    """``await connect(user, transports=[...], auth=...)`` → a ready LiveClient."""
    opened: list[LiveClient] = []
    url = str(client.make_url("")).rstrip("/")

    async def factory(
        user: TestUser | None,
        transports: list[str] | None = None,
        auth: Any = ...,
        wait_ready: bool = True,
        headers: dict[str, str] | None = None,
    ) -> LiveClient:
        live = LiveClient(user)
        factory.last = live  # type: ignore[attr-defined]
        if auth is ...:
            auth = {"token": user.token} if user else {}
        opened.append(live)
        await live.sio.connect(
            url,
            transports=transports or ["websocket"],
            auth=auth,
            headers=headers or {},
            wait_timeout=5,
        )
        if wait_ready:
            await live.wait("socket:ready", index=0)
        return live

    yield factory
    for live in opened:
        await live.close()
        schema_violations.extend(live.violations)
