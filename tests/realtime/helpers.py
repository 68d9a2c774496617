"""Helpers for the realtime tests."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from chatr_server.realtime.redis_adapter import RedisBroker
from tests.helpers import until

#: The ``serve`` fixture: start an app on a loopback port, get its base URL.
Serve = Callable[[web.Application], Awaitable[str]]


async def wait_redis(broker: RedisBroker) -> None:
    """Until everything queued for Redis was written: a marker key queued behind it."""
    marker = f"{broker.prefix}marker:{secrets.token_hex(4)}"
    broker.command(lambda pipe: pipe.set(marker, 1, ex=60))
    await until(lambda: broker.redis.exists(marker))
