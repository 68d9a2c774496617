"""The broker's own write connection (``realtime/redis_writer.py``): commands packed by
hiredis, replies counted in order, on a real Redis; a private one where the test needs a
password, a restart or a silent server."""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import (
    ClusterDownError,
    MovedError,
    RedisError,
    ResponseError,
    SlotNotCoveredError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chatr_server.realtime.redis_adapter import RedisBroker, _refused
from chatr_server.realtime.redis_writer import CommandBatch, RedisWriter
from tests.private_services import PrivateRedis
from tests.realtime.helpers import wait_redis


@pytest.fixture
async def shared(redis_url: str | None) -> AsyncIterator[tuple[str, Redis, str]]:
    """(url, a redis-py client on it, a key prefix removed afterwards)."""
    if redis_url is None:
        pytest.skip("needs Redis")
    prefix = f"writer-test-{secrets.token_hex(4)}:"
    client = Redis.from_url(redis_url)
    yield redis_url, client, prefix
    keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server for a private Redis")
    server = PrivateRedis()
    yield server
    server.close()


async def test_a_batch_runs_every_command_in_order_with_redis_py_arguments(shared):
    url, client, p = shared
    pubsub = client.pubsub()
    await pubsub.subscribe(f"{p}ch")
    assert (await pubsub.get_message(timeout=5))["type"] == "subscribe"
    writer = RedisWriter(url, client_name="writer-test", timeout=5)
    batch = CommandBatch()
    batch.set(f"{p}gone", "x")
    batch.hset(f"{p}h", mapping={"a": "1", "b": b"\x00\xff"})
    batch.pexpire(f"{p}h", 60_000)
    batch.eval("return redis.call('INCRBY', KEYS[1], ARGV[1])", 1, f"{p}n", 5)
    batch.delete(f"{p}gone")
    batch.set(f"{p}marker", 1, ex=60)
    batch.publish(f"{p}ch", b"\x00binary\xff")
    try:
        assert await writer.execute(batch) == []
        assert await client.hgetall(f"{p}h") == {b"a": b"1", b"b": b"\x00\xff"}
        assert 0 < await client.pttl(f"{p}h") <= 60_000
        assert await client.get(f"{p}n") == b"5"
        assert not await client.exists(f"{p}gone")
        assert 0 < await client.ttl(f"{p}marker") <= 60
        message = await pubsub.get_message(timeout=5)
        assert message is not None and message["data"] == b"\x00binary\xff"
        assert await writer.execute(CommandBatch()) == []  # nothing to send: no round trip
    finally:
        writer.close()
        await pubsub.aclose()


async def test_a_refused_command_is_reported_and_the_rest_of_the_batch_still_runs(shared):
    url, client, p = shared
    writer = RedisWriter(url, client_name="writer-test", timeout=5)
    batch = CommandBatch()
    batch.set(f"{p}before", "1")
    batch.eval("this is not lua", 0)
    batch.hset(f"{p}before", mapping={"f": "v"})  # wrong type: a string
    batch.set(f"{p}after", "2")
    try:
        refused = await writer.execute(batch)
        assert len(refused) == 2
        assert "WRONGTYPE" in str(refused[1])
        assert await client.mget(f"{p}before", f"{p}after") == [b"1", b"2"]
    finally:
        writer.close()


async def test_password_and_database_from_the_url(private_redis):
    private_redis.start(extra=("--requirepass", "s3cret pw"))
    base = f"127.0.0.1:{private_redis.port}"
    writer = RedisWriter(f"redis://:s3cret%20pw@{base}/3", client_name="writer-test", timeout=5)
    batch = CommandBatch()
    batch.set("in-db-3", "yes")
    client = Redis.from_url(f"redis://:s3cret%20pw@{base}/3")
    wrong = RedisWriter(f"redis://:nope@{base}/0", client_name="writer-test", timeout=5)
    try:
        assert await writer.execute(batch) == []
        assert await client.get("in-db-3") == b"yes"
        names = [c["name"] for c in await client.client_list()]
        assert "writer-test" in names
        with pytest.raises(RedisConnectionError, match="refused the connection set-up"):
            await wrong.execute(batch)
    finally:
        writer.close()
        wrong.close()
        await client.aclose()


async def test_a_lost_connection_fails_the_batch_and_the_next_one_reconnects(private_redis):
    private_redis.start()
    writer = RedisWriter(private_redis.url, client_name="writer-test", timeout=5)
    batch = CommandBatch()
    batch.set("k", "1")
    try:
        assert await writer.execute(batch) == []
        private_redis.kill()
        with pytest.raises((RedisConnectionError, OSError)):
            await writer.execute(batch)
        private_redis.start()
        assert await writer.execute(batch) == []  # a fresh connection
    finally:
        writer.close()


async def test_a_silent_server_times_out_instead_of_hanging():
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads everything, answers nothing
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    writer = RedisWriter(f"redis://127.0.0.1:{port}/0", client_name="writer-test", timeout=0.2)
    batch = CommandBatch()
    batch.set("k", "1")
    try:
        with pytest.raises(RedisTimeoutError):
            await writer.execute(batch)
    finally:
        writer.close()
        server.close()
        await server.wait_closed()


def test_which_urls_the_writer_opens():
    assert RedisWriter.supports("redis://127.0.0.1:6379/0")
    assert RedisWriter.supports("redis://:pw@cache:6380")
    assert RedisWriter.supports("redis://user:pw@cache/12")
    assert not RedisWriter.supports("rediss://cache:6380/0")  # TLS: redis-py's pipeline
    assert not RedisWriter.supports("unix:///run/redis.sock")
    assert not RedisWriter.supports("redis://cache/0?socket_timeout=2")


@pytest.mark.parametrize("own_writer", [True, False], ids=["writer", "redis-py"])
async def test_the_broker_reports_refused_commands_without_counting_them_lost(
    shared, caplog, own_writer
):
    """On the broker's own writer and on redis-py's pipeline (a URL option, TLS or a
    cluster) alike: a refused command is reported, and the rest of its batch is sent."""
    url, _client, p = shared
    if not own_writer:
        url += ("&" if "?" in url else "?") + "socket_timeout=5"
    broker = RedisBroker(url, p)
    await broker.start()
    try:
        assert (broker._writer is not None) == own_writer
        caplog.set_level(logging.WARNING, logger="chatr_server.realtime.redis")
        for _ in range(3):  # three batches: one report now, the rest counted for later
            broker.command(lambda pipe: pipe.eval("not lua either", 0))
            broker.publish(f"{p}ch", b"after")
            await wait_redis(broker)
        # The marker can land before the publisher has read its batch's replies; the
        # batch after it leaves only once they were.
        await wait_redis(broker)
        assert broker.lost == 0
        reports = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert len(reports) == 1 and "the last report: 1 (" in reports[0]
        assert broker._refused == 2 and broker.refused == 3
    finally:
        await broker.close()


def test_redis_py_results_tell_refused_commands_from_outages():
    """With ``raise_on_error=False`` errors come back in place: an error reply is the
    command's own (counted, the batch went); a lost connection or the cluster's state
    is an outage (raised as a RedisError, which the publish loop handles)."""
    script = ResponseError("ERR Error compiling script")
    wrong = ResponseError("WRONGTYPE Operation against a key holding the wrong kind")
    assert _refused([1, script, b"OK", wrong]) == [script, wrong]
    assert _refused([0, 1]) == []
    for outage in (
        RedisConnectionError("lost"),
        RedisTimeoutError("slow"),
        ClusterDownError("CLUSTERDOWN"),
        MovedError("3999 127.0.0.1:6381"),
    ):
        with pytest.raises(type(outage)):
            _refused([1, outage])
    with pytest.raises(RedisError):  # not a RedisError itself: wrapped in one
        _refused([SlotNotCoveredError("no node for slot 5")])


async def test_a_batch_right_after_a_failure_takes_a_new_connection(shared):
    """A failed connection is aborted, and told so a moment later: a batch sent in
    between must not be written into the closing one."""
    url, client, p = shared
    writer = RedisWriter(url, client_name="writer-test", timeout=5)
    batch = CommandBatch()
    batch.set(f"{p}again", "1")
    try:
        assert await writer.execute(batch) == []
        first = writer._conn
        assert first is not None
        first.fail(RedisConnectionError("as after a timeout"))
        assert await writer.execute(batch) == []
        assert writer._conn is not first
        assert await client.get(f"{p}again") == b"1"
    finally:
        writer.close()


async def test_a_write_that_cannot_be_packed_is_dropped_alone(shared, caplog):
    """An argument hiredis cannot pack drops that write only: the publisher goes on."""
    url, client, p = shared
    broker = RedisBroker(url, p)
    await broker.start()
    try:
        caplog.set_level(logging.ERROR, logger="chatr_server.realtime.redis")
        broker.command(lambda pipe: pipe.set(f"{p}bad", None))
        broker.command(lambda pipe: pipe.set(f"{p}good", "1"))
        await wait_redis(broker)
        assert await client.get(f"{p}good") == b"1"
        assert not await client.exists(f"{p}bad")
        assert any("queued write was dropped" in r.getMessage() for r in caplog.records)
    finally:
        await broker.close()
