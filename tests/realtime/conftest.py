"""Fixtures for the realtime tests: real aiohttp servers on ephemeral ports."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests.realtime.helpers import Serve


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start an app on 127.0.0.1:<random port>; returns its base URL. Cleaned up after."""
    runners: list[web.AppRunner] = []

    async def _serve(app: web.Application) -> str:
        # A short shutdown timeout: tests that leave sockets open must not stall teardown.
        runner = web.AppRunner(app, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        runners.append(runner)
        return f"http://127.0.0.1:{port}"

    yield _serve
    for runner in reversed(runners):
        await runner.cleanup()
