"""Graceful drain on SIGTERM/SIGINT (issue 12), against real ``serve`` processes.

The load comes from the project's load client (loadtest/steady.py): raw
Engine.IO/Socket.IO sockets of users seeded in SQL, sending ``message:send``.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
from typing import Any

import aiohttp
import pytest

from chatr_server.settings import Settings
from loadtest import steady, verify

EXIT_LIMIT_S = 30.0


async def _wait_acks(load: steady.SteadyLoad, count: int) -> None:
    async with asyncio.timeout(30):
        while len(load.tally.acked) < count:
            await load.changed.wait()


async def test_sigterm_under_load_acknowledges_every_stored_message(
    serve: Any, base_settings: Settings
) -> None:
    served = await serve(SHUTDOWN_GRACE_SECONDS="0", SHUTDOWN_TIMEOUT_SECONDS="15")
    dsn = base_settings.database_url
    assert dsn is not None
    run = secrets.token_hex(4)
    users = await steady.seed_ring(dsn, base_settings.jwt_secret, 8, f"drain{run}")
    load = steady.SteadyLoad(served.url, users, rate=200, prefix=f"drain-{run}-")
    await load.start()
    try:
        await _wait_acks(load, 100)  # sends are flowing; more are in flight
        served.signal(signal.SIGTERM)
        assert await served.exit_code(EXIT_LIMIT_S) == 0
        await served.wait_log(r"drained in")
    finally:
        await load.stop()
    tally = load.tally
    rows = await steady.stored(dsn, load.prefix)
    # Every stored message's message:sent reached its sender before the socket closed...
    assert sorted(set(rows) - set(tally.acked)) == []
    # ...and every acknowledged message is stored, once.
    assert await verify.missing_ids(dsn, steady.as_uuids(list(tally.acked.values()))) == []
    assert all(len(ids) == 1 for ids in rows.values())
    assert len(rows) >= 100
    # The server closed the transport (clients reconnect), never a Socket.IO DISCONNECT.
    reasons = {k for k in tally.events if k.startswith("disconnected: ")}
    assert reasons and "disconnected: server disconnect" not in reasons, tally.events
    assert "Traceback" not in served.log()


async def test_readiness_fails_at_once_and_a_second_signal_ends_the_grace(serve: Any) -> None:
    served = await serve(SHUTDOWN_GRACE_SECONDS="300", SHUTDOWN_TIMEOUT_SECONDS="600")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{served.url}/api/health/ready") as resp:
            assert resp.status == 200
        served.signal(signal.SIGINT)
        await served.wait_log(r"draining: readiness answers 503")
        async with http.get(f"{served.url}/api/health/ready") as resp:
            body = await resp.json()
            assert (resp.status, body["checks"]["draining"]) == (503, True)
        # Still serving during the grace: liveness, and new Engine.IO sessions.
        async with aiohttp.ClientSession() as fresh:
            async with fresh.get(f"{served.url}/api/health") as resp:
                assert resp.status == 200
            handshake = f"{served.url}/socket.io/?EIO=4&transport=polling"
            async with fresh.get(handshake) as resp:
                assert resp.status == 200 and (await resp.text()).startswith("0{")
    served.signal(signal.SIGINT)
    assert await served.exit_code(EXIT_LIMIT_S) == 0
    assert "second SIGINT: ending the grace period" in served.log()


async def test_workers_are_drained_and_the_supervisor_exits_0(
    serve: Any, base_settings: Settings
) -> None:
    if not base_settings.redis_url:
        pytest.skip("--workers needs Redis")
    served = await serve(
        "--workers",
        "2",
        wait=False,
        REDIS_URL=base_settings.redis_url,
        REDIS_PREFIX=f"{base_settings.redis_prefix}drain-{secrets.token_hex(3)}:",
        SHUTDOWN_GRACE_SECONDS="0",
    )
    await served.wait_log(r"(?s)listening on.*listening on", 90)
    served.signal(signal.SIGTERM)
    assert await served.exit_code(EXIT_LIMIT_S) == 0
    assert served.log().count("drained in") == 2
