"""Helpers for the realtime tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

#: The ``serve`` fixture: start an app on a loopback port, get its base URL.
Serve = Callable[[web.Application], Awaitable[str]]
