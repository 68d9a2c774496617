"""``serve --workers 2``: a scrape answered by any worker reports the whole node."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from chatr_server.realtime.cluster import TAG_LENGTH
from tests.helpers import free_port, make_user, until, wait_until_serving
from tests.live import LiveClient
from tests.metrics.scrape import Sample, bad_labels, parse, total


@pytest_asyncio.fixture
async def node(base_settings, tmp_path) -> AsyncIterator[str]:
    if not base_settings.redis_url:
        pytest.skip("--workers needs Redis")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": base_settings.database_url,
        "REDIS_URL": base_settings.redis_url,
        "REDIS_PREFIX": f"{base_settings.redis_prefix}metrics-{secrets.token_hex(3)}:",
        "JWT_SECRET": base_settings.jwt_secret,
        "CHATR_DATA_DIR": str(tmp_path / "var"),
        "UPLOADS_DIR": str(tmp_path / "uploads"),
        "LOG_LEVEL": "WARNING",
    }
    for name in ("WEB_WORKERS", "NODE_ENV", "CHATR_ENV", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatr_server",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "2",
        env=env,
    )
    try:
        await wait_until_serving(proc, port)
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _scrape(url: str) -> list[Sample]:
    # A new connection each time: SO_REUSEPORT hands it to either worker.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        async with http.get(f"{url}/metrics") as resp:
            assert resp.status == 200
            return parse(await resp.text())


async def _live(url: str, user: Any) -> LiveClient:
    live = LiveClient(user)
    await live.sio.connect(
        url, transports=["websocket"], auth={"token": user.token}, wait_timeout=5
    )
    await live.wait("socket:ready", index=0)
    return live


async def test_any_worker_reports_the_node_sum(client, node) -> None:
    alice, bob = await make_user(client), await make_user(client)
    b = await _live(node, bob)
    # Alice's socket on the other worker, so each worker stores half of the messages.
    a = await _live(node, alice)
    for _ in range(40):
        if a.sio.eio.sid[:TAG_LENGTH] != b.sio.eio.sid[:TAG_LENGTH]:
            break
        await a.close()
        a = await _live(node, alice)
    assert a.sio.eio.sid[:TAG_LENGTH] != b.sio.eio.sid[:TAG_LENGTH]
    try:
        for i in range(15):
            await a.emit(
                "message:send", {"recipientId": bob.id, "content": f"a{i}", "tempId": f"a{i}"}
            )
            await b.emit(
                "message:send", {"recipientId": alice.id, "content": f"b{i}", "tempId": f"b{i}"}
            )
        await a.wait_count("message:sent", 15)
        await b.wait_count("message:sent", 15)

        # Counters, histograms and states are copied into the files once a second per worker:
        # wait until both copies landed, then every scrape must show the node's sum.
        async def reached() -> bool:
            return _node_totals_reached(await _scrape(node))

        await until(reached, 10)
        for _ in range(20):
            samples = await _scrape(node)
            assert _node_totals_reached(samples)
            assert total(samples, "chatr_dependency_up", dependency="redis") == 1
            assert bad_labels(samples, client.app) == []
    finally:
        with contextlib.suppress(Exception):
            await a.close()
        await b.close()


def _node_totals_reached(samples: list[Sample]) -> bool:
    return (
        total(samples, "chatr_messages_stored_total", kind="direct") >= 30
        and total(samples, "chatr_socketio_events_total", event="message:send") >= 30
        and total(samples, "chatr_message_ack_seconds_count") >= 30
        and total(samples, "chatr_socket_connections", transport="websocket") >= 2
    )
