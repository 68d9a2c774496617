"""RedisAdapter: two SocketServers ("nodes") in one process sharing a real Redis."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio
from aiohttp import web
from redis.asyncio import Redis

from chatr_server.realtime import Socket, SocketServer
from chatr_server.realtime.redis_adapter import WIDE_EMIT_ROOMS, RedisBroker
from tests.helpers import until
from tests.realtime.helpers import Serve


class Node:
    def __init__(self, broker: RedisBroker) -> None:
        self.broker = broker
        self.sio = SocketServer(adapter=broker.adapter)
        self.ns = self.sio.of("/")
        self.app = web.Application()

        @self.ns.on("join")
        async def join(sock: Socket, room: str) -> None:
            sock.join(room)
            await sock.synced()

        @self.ns.on("leave")
        def leave(sock: Socket, room: str) -> None:
            sock.leave(room)

        @self.ns.on("shout")
        def shout(sock: Socket, room: str, payload: Any) -> None:
            self.ns.emit("heard", payload, to=room, skip_sid=sock.id)

        self.sio.attach(self.app)


@pytest.fixture
async def nodes(scaleout_redis: tuple[str, bool]) -> AsyncIterator[list[Node]]:
    url, cluster = scaleout_redis
    prefix = f"chatr-test-adapter-{secrets.token_hex(4)}:"
    made = [Node(RedisBroker(url, prefix, cluster=cluster)) for _ in range(3)]
    for node in made:
        await node.broker.start()
    yield made
    for node in made:
        await node.broker.close()


async def _client(url: str, received: list[Any]) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    client.on("heard", received.append)
    await client.connect(url, transports=["websocket"], wait_timeout=5)
    return client


async def test_broadcast_reaches_the_other_node_once(serve: Serve, nodes: list[Node]) -> None:
    urls = [await serve(node.app) for node in nodes]
    got_a: list[Any] = []
    got_b: list[Any] = []
    got_c: list[Any] = []
    a = await _client(urls[0], got_a)
    b = await _client(urls[1], got_b)
    c = await _client(urls[1], got_c)
    try:
        await a.call("join", "room1")
        await b.call("join", "room1")
        await a.emit("shout", ("room1", {"n": 1, "bin": b"\x00\x01"}))
        await until(lambda: len(got_b) == 1)
        assert got_b == [{"n": 1, "bin": b"\x00\x01"}]
        # The sender is skipped wherever it is; a non-member on the other node gets nothing.
        await b.emit("shout", ("room1", "back"))
        await until(lambda: len(got_a) == 1)
        # Acknowledged round trips: b's shout has been handled, and what node 1 sent b
        # and c before their answers has arrived.
        await b.call("join", "room1")
        await c.call("join", "elsewhere")
        assert got_a == ["back"] and got_b == [{"n": 1, "bin": b"\x00\x01"}] and got_c == []
        # Everyone, from the server side of node 0.
        nodes[0].ns.emit("heard", "all")
        await until(lambda: got_c == ["all"] and got_a[-1] == "all" and got_b[-1] == "all")
        # Cluster-wide membership.
        members = await nodes[0].ns.adapter.fetch_sids({"room1"})
        assert members == {a.get_sid("/"), b.get_sid("/")}
        assert len(await nodes[1].ns.adapter.fetch_sids()) == 3
    finally:
        for client in (a, b, c):
            await client.disconnect()


async def test_resubscribes_after_the_connection_is_killed(serve: Serve, nodes: list[Node]) -> None:
    urls = [await serve(node.app) for node in nodes]
    received: list[Any] = []
    a = await _client(urls[0], [])
    b = await _client(urls[1], received)
    try:
        await b.call("join", "r")
        # Kill node 1's subscriber connection from the Redis side.
        admin = nodes[0].broker.redis
        if nodes[0].broker.cluster:  # the master serving the channels' hash slot
            owner = admin.get_node_from_key(nodes[1].broker.channel("/"))
            admin = Redis(host=owner.host, port=owner.port)
        name = f"chatr-sio-{nodes[1].broker.node_id}"
        victims = [
            info["id"]
            for info in await admin.client_list(_type="pubsub")
            if info.get("name") == name
        ]
        assert victims
        for client_id in victims:
            await admin.client_kill_filter(_id=client_id)

        async def delivered() -> bool:
            await a.emit("shout", ("r", "again"))
            await asyncio.sleep(0.2)
            return bool(received)

        async with asyncio.timeout(8):
            while not await delivered():
                pass
        assert set(received) == {"again"}
    finally:
        await a.disconnect()
        await b.disconnect()
        if admin is not nodes[0].broker.redis:
            await admin.aclose()


async def test_room_commands_reach_the_other_node(serve: Serve, nodes: list[Node]) -> None:
    """``sockets_leave`` and ``disconnect_sockets`` issued on node 0 act on node 1's sockets,
    before any broadcast node 0 publishes afterwards."""
    urls = [await serve(node.app) for node in nodes]
    got_a: list[Any] = []
    got_b: list[Any] = []
    got_c: list[Any] = []
    a = await _client(urls[0], got_a)
    b = await _client(urls[1], got_b)
    c = await _client(urls[1], got_c)
    try:
        for client, rooms in ((a, ["r"]), (b, ["r", "select-b"]), (c, ["r", "select-c"])):
            for room in rooms:
                await client.call("join", room)
        nodes[0].ns.sockets_leave("select-b", "r")
        nodes[0].ns.emit("heard", "after-leave", to="r")
        await until(lambda: got_c == ["after-leave"] and got_a == ["after-leave"])
        await b.call("join", "x")  # a round trip: anything queued to b has arrived
        assert got_b == []
        assert nodes[1].ns.sockets_in("r") == {c.get_sid("/")}
        nodes[0].ns.disconnect_sockets("select-c")
        await until(lambda: not c.connected)
        assert b.connected and a.connected
        with pytest.raises(ValueError):
            nodes[0].ns.disconnect_sockets([])
    finally:
        for client in (a, b, c):
            if client.connected:
                await client.disconnect()


async def test_room_emits_reach_only_the_nodes_holding_members(
    serve: Serve, nodes: list[Node]
) -> None:
    """Targeted fan-out: node 2 holds nobody in the rooms and receives none of their
    messages; an emit to several rooms reaches a node holding members of all of them
    once; an emit to everyone reaches every node."""
    urls = [await serve(node.app) for node in nodes]
    heard: list[tuple[str, Any]] = []
    for index, node in enumerate(nodes):
        original = node.broker._dispatch

        def spy(channel: Any, data: bytes, index: int = index, original: Any = original) -> None:
            heard.append((str(index), bytes(data)))
            original(channel, data)

        node.broker._dispatch = spy  # type: ignore[method-assign]
    got_a: list[Any] = []
    got_b: list[Any] = []
    got_c: list[Any] = []
    a = await _client(urls[0], got_a)
    b = await _client(urls[1], got_b)
    c = await _client(urls[2], got_c)
    try:
        await b.call("join", "user:b")
        await b.call("join", "group:g")
        await c.call("join", "user:c")
        nodes[0].ns.emit("heard", "dm", to="user:b")
        nodes[0].ns.emit("heard", "both", to=["user:b", "group:g"])
        await until(lambda: got_b == ["dm", "both"])
        # A round trip through node 2 after node 0 published to everyone: all that node 0
        # published before has reached node 2 (one publisher, one shard, FIFO).
        nodes[0].ns.emit("heard", "all")
        await until(lambda: got_c == ["all"] and got_b[-1] == "all" and got_a == ["all"])
        assert [who for who, data in heard if b"dm" in data or b"both" in data] == ["1"] * 3
        assert got_b == ["dm", "both", "all"]
        # The last member leaves: node 1 unsubscribes, and a later emit reaches no node.
        await b.call("leave", "user:b")
        await b.call("leave", "group:g")
        broker = nodes[0].broker
        channel = broker.room_channel("/", "user:b")
        await until(lambda: _unsubscribed(broker, channel))
        before = len(heard)
        nodes[0].ns.emit("heard", "gone", to="user:b")
        nodes[0].ns.emit("heard", "all2")
        await until(lambda: got_c[-1] == "all2" and got_b[-1] == "all2")
        assert not any(b"gone" in data for _who, data in heard[before:])
    finally:
        for client in (a, b, c):
            await client.disconnect()


async def _unsubscribed(broker: RedisBroker, channel: str) -> bool:
    return await broker.subscribers(channel) == 0


async def test_a_wide_emit_is_published_once_per_node(serve: Serve, nodes: list[Node]) -> None:
    """An emit to WIDE_EMIT_ROOMS rooms or more, and to at least as many rooms as there
    are processes, goes once on the namespace channel: every node hears one copy, each
    socket gets it once; a narrower one still goes per room, to the holders only."""
    urls = [await serve(node.app) for node in nodes]
    heard: list[tuple[int, bytes]] = []
    for index, node in enumerate(nodes):
        original = node.broker._dispatch

        def spy(channel: Any, data: bytes, index: int = index, original: Any = original) -> None:
            heard.append((index, bytes(data)))
            original(channel, data)

        node.broker._dispatch = spy  # type: ignore[method-assign]
    got_b: list[Any] = []
    b = await _client(urls[1], got_b)
    try:
        wide = [f"user:w{i}" for i in range(WIDE_EMIT_ROOMS)]
        for room in wide:
            await b.call("join", room)
        for node in nodes:  # what the census task finds
            node.broker.nodes = await node.broker.subscribers(node.broker.channel("/"))
        assert [node.broker.nodes for node in nodes] == [3, 3, 3]
        nodes[0].ns.emit("heard", "wide", to=wide)
        nodes[0].ns.emit("heard", "narrow", to=wide[1:])
        await until(lambda: got_b == ["wide", "narrow"])
        # A round trip through node 2 after node 0's next broadcast: node 2 has heard
        # everything node 0 published before it (one publisher, one connection, FIFO).
        got_c: list[Any] = []
        c = await _client(urls[2], got_c)
        nodes[0].ns.emit("heard", "all")
        await until(lambda: got_c == ["all"] and got_b[-1] == "all")
        await c.disconnect()
        assert sorted(who for who, data in heard if b"wide" in data) == [0, 1, 2]
        assert [who for who, data in heard if b"narrow" in data] == [1] * (WIDE_EMIT_ROOMS - 1)
    finally:
        await b.disconnect()
