"""Presence across nodes sharing Redis: counted per connection everywhere, and a node
that died without cleaning up stops counting once its heartbeat key has expired."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster

from chatr_server.services import presence as presence_module
from chatr_server.services.presence import NODE_TTL_S, RECORD_TTL_S, PresenceService
from chatr_server.store.memory import MemoryStore
from chatr_server.store.redis import RedisStore


@pytest.fixture
async def store(scaleout_redis, redis_prefix):
    url, cluster = scaleout_redis
    store = RedisStore(url, f"{redis_prefix}nodes-{secrets.token_hex(4)}:", cluster=cluster)
    yield store
    await store.close()


@pytest.fixture
async def nodes(store):
    """Two server processes' presence on one store; ``a`` started first."""
    a, b = PresenceService(store, "node-a"), PresenceService(store, "node-b")
    await a.start()
    await b.start()
    yield a, b
    await a.stop()
    await b.stop()


async def _crash(node: PresenceService) -> None:
    """What a killed process does: stop heart-beating, clean nothing up."""
    task, node._task = node._task, None
    assert task is not None
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_connections_on_two_nodes_count_as_one_user(nodes):
    a, b = nodes
    await a.connect("u1", hidden=False)
    await b.connect("u1", hidden=False)
    assert await a.is_online("u1") and await b.is_online("u1")
    # a's last heartbeat ran before b existed: b's connection must count anyway.
    last, record = await a.disconnect("u1")
    assert last is False and record is not None  # still connected on b
    assert await a.is_online("u1")
    last, record = await b.disconnect("u1")
    assert last is True  # the last connection anywhere
    assert record is not None and record["status"] == "online"
    assert not await a.is_online("u1") and not await b.is_online("u1")
    assert await a.record("u1") is None
    assert not await b.is_online("never-connected")


async def test_a_dead_node_stops_counting_when_its_key_expires(store, nodes):
    a, b = nodes
    await a.connect("u2", hidden=False)
    assert await b.is_online("u2")

    await _crash(a)
    ttl = await store.client.ttl(store._k("node:node-a"))
    assert 0 < ttl <= NODE_TTL_S  # it will expire on its own...
    await store.delete("node:node-a")  # ...as here, without waiting a minute
    assert await b.is_online("u2")  # until b's next heartbeat notices

    await b._beat()  # the periodic heartbeat, run now
    assert not await b.is_online("u2")
    assert "node-a" not in await store.smembers("nodes")


async def test_connect_reads_the_peers_records_in_its_own_pipeline(nodes):
    """Connect writes and peer reads share one pipeline (on a cluster the keys live on
    different shards); a key written in it reads back in it."""
    a, b = nodes
    assert await a.connect("pipe-1", hidden=False) == {}
    await a.connect("pipe-2", hidden=True)
    records = await b.connect(
        "pipe-3", hidden=False, peers=["pipe-1", "pipe-none", "pipe-2", "pipe-3"]
    )
    assert list(records) == ["pipe-1", "pipe-2", "pipe-3"]
    assert records["pipe-1"]["status"] == "online" and not records["pipe-1"]["hidden"]
    assert records["pipe-2"]["hidden"] and not records["pipe-3"]["hidden"]
    assert list(await a.records(["pipe-3", "pipe-none", "pipe-1"])) == ["pipe-3", "pipe-1"]
    assert await a.is_online("pipe-3") and await b.is_online("pipe-1")


async def test_more_concurrent_commands_than_connections_wait_their_turn(store):
    """A storm's pipelines outnumber the client's connection pool: they queue instead of
    failing (a failure would read as Redis being down)."""

    async def one(i: int) -> list[Any]:
        pipe = store.pipeline()
        pipe.hset(f"turn:{i}", {"n": str(i)}, ttl_s=60)
        pipe.hgetall(f"turn:{i}")
        return await pipe.execute()

    results = await asyncio.gather(*(one(i) for i in range(300)))
    assert [r[1] for r in results] == [{"n": str(i)} for i in range(300)]


async def test_disconnect_reads_the_record_another_node_changed(nodes):
    """The last disconnect hears of a settings:update made on another node (hidden)
    from the same pipeline that drops its count; a second connection on the same
    node only lowers the count."""
    a, b = nodes
    await a.connect("hid-1", hidden=False)
    await a.connect("hid-1", hidden=False)
    await b.set_hidden("hid-1", True)
    last, record = await a.disconnect("hid-1")
    assert last is False and record is not None and record["hidden"] is True
    assert await b.is_online("hid-1")
    last, record = await a.disconnect("hid-1")
    assert last is True and record is not None and record["hidden"] is True
    assert not await b.is_online("hid-1") and await b.record("hid-1") is None


async def test_pipeline_answers_in_queue_order_with_consecutive_reads_as_one_command(store):
    """One result per queued command, each read seeing the writes queued before it; on
    a single Redis a run of reads leaves as one command (a connect reads 50 records)."""
    pipe = store.pipeline()
    pipe.hgetall("order:a")
    pipe.hset("order:a", {"n": "1", "m": "2"}, ttl_s=60)
    pipe.hgetall("order:a")
    pipe.hgetall("order:none")
    pipe.hgetall("order:a")
    pipe.hdel("order:a", "n")
    pipe.hgetall("order:a")
    if not isinstance(store.client, RedisCluster):
        # HGETALL, HSET + PEXPIRE, one script for the three reads, HDEL (the last
        # read is queued by execute: reads wait to see whether more follow)
        assert len(pipe._pipe.command_stack) == 5
    both = {"n": "1", "m": "2"}
    assert await pipe.execute() == [{}, None, both, {}, both, None, {"m": "2"}]


async def test_heartbeat_refreshes_every_users_keys_in_batches(store, nodes, monkeypatch):
    """Each heartbeat gives this node's counts and its users' records their full
    expiry again, in pipelines of BEAT_BATCH users; a record already gone stays gone."""
    a, _b = nodes
    monkeypatch.setattr(presence_module, "BEAT_BATCH", 3)
    users = [f"beat-{i}" for i in range(7)]
    for user in users:
        await a.connect(user, hidden=False)
    client = store.client
    for user in users:
        await client.pexpire(store._k(f"pconn:{user}"), 5_000)
        await client.pexpire(store._k(f"presence:{user}"), 5_000)
    await store.delete(f"presence:{users[0]}")
    await a._beat()
    for user in users:
        assert await client.pttl(store._k(f"pconn:{user}")) > (RECORD_TTL_S - 5) * 1000
        if user == users[0]:
            assert not await client.exists(store._k(f"presence:{user}"))
        else:
            assert await client.pttl(store._k(f"presence:{user}")) > (RECORD_TTL_S - 5) * 1000
            assert (await a.record(user) or {}).get("status") == "online"
    assert await a.is_online(users[3])


async def test_in_process_heartbeat_refreshes_the_memory_stores_keys():
    clock = [1000.0]
    store = MemoryStore(clock=lambda: clock[0])
    node = PresenceService(store, "only")
    await node.connect("mem-1", hidden=False)
    await store.delete("presence:gone")
    clock[0] += RECORD_TTL_S - 1
    await node._beat()
    clock[0] += RECORD_TTL_S - 1  # past the first expiry, within the refreshed one
    assert await store.hgetall("pconn:mem-1") == {"only": "1"}
    assert (await node.record("mem-1") or {}).get("status") == "online"
    assert await store.hgetall("presence:gone") == {}
