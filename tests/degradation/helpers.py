"""Helpers for the runtime-degradation tests."""

from __future__ import annotations

import logging
from typing import Any

from chatr_server.appkeys import DEPENDENCIES
from chatr_server.services.dependencies import DependencyMonitor
from tests.helpers import TestUser
from tests.live import LiveClient


def monitor_of(client: Any) -> DependencyMonitor:
    return client.server.app[DEPENDENCIES]


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


def server_lines(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [r for r in records if r.name != "aiohttp.access" and r.levelno >= logging.INFO]
