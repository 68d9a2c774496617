"""RedisAdapter: two SocketServers ("nodes") in one process sharing a real Redis."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
import socketio
from aiohttp import web

from chatr_server.realtime import Socket, SocketServer
from chatr_server.realtime.redis_adapter import RedisBroker
from tests.helpers import until
from tests.realtime.helpers import Serve


class Node:
    def __init__(self, broker: RedisBroker) -> None:
        self.broker = broker
        self.sio = SocketServer(adapter=broker.adapter)
        self.ns = self.sio.of("/")
        self.app = web.Application()

        @self.ns.on("join")
        def join(sock: Socket, room: str) -> None:
            sock.join(room)

        @self.ns.on("shout")
        def shout(sock: Socket, room: str, payload: Any) -> None:
            self.ns.emit("heard", payload, to=room, skip_sid=sock.id)

        self.sio.attach(self.app)


@pytest.fixture
async def nodes(redis_url: str | None) -> AsyncIterator[list[Node]]:
    if redis_url is None:
        pytest.skip("needs Redis")
    prefix = f"chatr-test-adapter-{secrets.token_hex(4)}:"
    made = [Node(RedisBroker(redis_url, prefix)) for _ in range(2)]
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


async def test_resubscribes_after_the_connection_is_killed(
    serve: Serve, nodes: list[Node], redis_url: str
) -> None:
    urls = [await serve(node.app) for node in nodes]
    received: list[Any] = []
    a = await _client(urls[0], [])
    b = await _client(urls[1], received)
    try:
        await b.call("join", "r")
        # Kill node 1's subscriber connection from the Redis side.
        admin = nodes[0].broker.redis
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
