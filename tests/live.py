"""Real Socket.IO clients (python-socketio) against the real app over real sockets.

A pytest plugin (registered in ``tests/conftest.py``): the ``connect`` fixture is
available to every test folder, and ``LiveClient`` and the barriers below are
imported from here.

"Must not arrive" checks never sleep first: :func:`settle` is an acknowledged round
trip per socket (each socket's events are handled in arrival order, and one
connection delivers in order), and :func:`server_settled` waits until the server has
run the disconnect handlers of the sockets a test closed.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
import socketio

from chatr_server.appkeys import SERVICES
from tests.helpers import TestUser, until
from tests.oracle import event_mismatches


class _PidClient(socketio.AsyncClient):
    """python-socketio does not speak connection-state recovery: keep the CONNECT
    reply's ``pid`` so the recorded events can drop the offset the server appends."""

    pid: str | None = None

    async def _handle_connect(self, namespace: str, data: Any) -> None:
        self.pid = data.get("pid") if isinstance(data, dict) else None
        await super()._handle_connect(namespace, data)


class LiveClient:
    """A connected python-socketio client that records every event it receives."""

    def __init__(self, user: TestUser | None) -> None:
        self.user = user
        self.sio = _PidClient(reconnection=False)
        self.events: dict[str, list[Any]] = defaultdict(list)
        #: received payloads off their event schema (the fixture fails the test on any)
        self.violations: list[str] = []
        self._cursor: dict[str, int] = defaultdict(int)
        self._arrived = asyncio.Event()  # set on every event; waiters clear it and recheck

        @self.sio.on("connect_error")
        async def connect_error(data: Any) -> None:
            self._record("connect_error", data)

        @self.sio.on("*")
        async def catch_all(event: str, *args: Any) -> None:
            if self.sio.pid is not None and args and isinstance(args[-1], str):
                args = args[:-1]  # the recovery offset (realtime/recovery.py)
            payload = args[0] if len(args) == 1 else list(args)
            self.violations.extend(event_mismatches(event, payload))
            self._record(event, payload)

    def _record(self, event: str, payload: Any) -> None:
        self.events[event].append(payload)
        self._arrived.set()

    async def wait(self, event: str, timeout: float = 5.0, index: int | None = None) -> Any:
        """The next not yet consumed payload of ``event`` (or the ``index``-th one)."""
        position = self._cursor[event] if index is None else index
        await self.wait_count(event, position + 1, timeout)
        if index is None:
            self._cursor[event] += 1
        return self.events[event][position]

    async def wait_count(self, event: str, count: int, timeout: float = 5.0) -> list[Any]:
        try:
            async with asyncio.timeout(timeout):
                while len(self.events[event]) < count:
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            raise TimeoutError(f"{event}: {len(self.events[event])} of {count}") from None
        return self.events[event]

    async def emit(self, event: str, data: Any = None) -> None:
        await self.sio.emit(event, data)

    async def call(self, event: str, data: Any = None, timeout: float = 5.0) -> Any:
        return await self.sio.call(event, data, timeout=timeout)

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


async def settle(*lives: LiveClient) -> None:
    """An acknowledged round trip on each socket: by then the server has handled what the
    socket sent before, and the socket has received what the server queued to it before."""
    for live in lives:
        # An event nobody handles: answered at once, by every kind of socket.
        assert await live.call("authz:ping") == {"error": "Not implemented"}


async def wait_disconnected(live: LiveClient, timeout: float = 5.0) -> None:
    await until(lambda: not live.sio.connected, timeout)


async def server_settled(client: Any, *closed: LiveClient, timeout: float = 5.0) -> None:
    """Close ``closed`` and return once ``client``'s server has seen them go and has run
    every handler (disconnect hooks included) it had work for."""
    server = client.server.app[SERVICES].sockets
    sids = [live.sio.get_sid("/") for live in closed]
    for live in closed:
        await live.close()
    namespace = server.of("/")
    await until(lambda: all(namespace.get_socket(sid) is None for sid in sids), timeout)
    assert await server.wait_idle(timeout), "socket handlers still running"


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
