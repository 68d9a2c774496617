"""The outage classifier and the dependency monitor, against real refused connections."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest
from redis.asyncio import Redis

from chatr_server.services.dependencies import (
    POSTGRES,
    REDIS,
    DependencyMonitor,
    DependencyUnavailable,
    has_nul,
    is_dependency_outage,
)
from tests.helpers import free_port


async def _raised(coro) -> Exception:
    try:
        await coro
    except Exception as exc:
        return exc
    raise AssertionError("expected a failure")


async def test_refused_connections_name_their_dependency():
    port = free_port()  # nothing listens there
    pg = await _raised(asyncpg.connect(f"postgresql://postgres@127.0.0.1:{port}/x", timeout=3))
    assert is_dependency_outage(pg) == POSTGRES
    client = Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_connect_timeout=3)
    try:
        assert is_dependency_outage(await _raised(client.ping())) == REDIS
    finally:
        await client.aclose()
    assert is_dependency_outage(DependencyUnavailable(REDIS)) == REDIS


async def test_other_failures_are_not_outages():
    port = free_port()
    # A refused socket that is not the database's or Redis's (a client that went away,
    # an integration) is not an outage of either.
    refused = await _raised(asyncio.open_connection("127.0.0.1", port))
    assert isinstance(refused, OSError)
    assert is_dependency_outage(refused) is None
    assert is_dependency_outage(ValueError("bad")) is None
    assert is_dependency_outage(asyncpg.exceptions.DataError("bad argument")) is None


def test_has_nul_walks_keys_and_nested_values():
    assert not has_nul(("plain", {"a": ["b", {"c": "d"}], "n": 1}))
    assert has_nul({"content": "x\x00"})
    assert has_nul({"a\x00": "x"})
    assert has_nul(["ok", {"deep": ["\x00"]}])
    assert not has_nul({"escaped": "\\u0000"})


async def test_monitor_logs_state_changes_once_and_runs_recovery_hooks(caplog):
    caplog.set_level(logging.INFO, logger="chatr_server.dependencies")
    up = asyncio.Event()
    recovered = asyncio.Event()

    async def probe() -> bool:
        return up.is_set()

    async def hook() -> None:
        recovered.set()

    monitor = DependencyMonitor(probe_every=0.01, report_every=3600)
    monitor.register(POSTGRES, probe)
    monitor.on_recovery(POSTGRES, hook)
    assert monitor.is_up(POSTGRES) and monitor.down_since(POSTGRES) is None
    for _ in range(50):
        monitor.failed(POSTGRES, OSError("refused"))
    assert not monitor.is_up(POSTGRES)
    assert monitor.snapshot()[POSTGRES]["refused"] == 50
    up.set()
    await asyncio.wait_for(recovered.wait(), 5)
    assert monitor.is_up(POSTGRES)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert "postgres is unreachable" in messages[0]
    assert "postgres is back after" in messages[1] and "50 requests/events" in messages[1]
    await monitor.close()


async def test_check_probes_on_demand():
    answers = [False, True]

    async def probe() -> bool:
        return answers.pop(0)

    monitor = DependencyMonitor(probe_every=3600)
    monitor.register(REDIS, probe)
    assert await monitor.check(REDIS) is False
    assert not monitor.is_up(REDIS)
    assert await monitor.check(REDIS) is True
    assert monitor.is_up(REDIS)
    await monitor.close()


@pytest.mark.parametrize("name", [POSTGRES, REDIS])
def test_unknown_dependencies_count_as_up(name):
    assert DependencyMonitor().is_up(name)
