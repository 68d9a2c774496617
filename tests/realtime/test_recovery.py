"""Connection-state recovery at the protocol level (realtime/recovery.py), raw websockets.

A tiny Engine.IO/Socket.IO client speaks the wire so the tests see exactly what a client
gets: the pid in the CONNECT reply, the offset as last event argument, the missed events
before the CONNECT reply of a restore.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from redis.crc import key_slot

from chatr_server.realtime import ConnectionRefused, Socket, SocketServer
from chatr_server.realtime.recovery import (
    MemoryRecoveryStore,
    Recovery,
    RedisRecoveryStore,
    format_vector,
    parse_offset,
)
from chatr_server.realtime.redis_adapter import RedisBroker
from tests.helpers import until
from tests.realtime.helpers import Serve, wait_redis


class RawClient:
    """One websocket Engine.IO session; packets are kept in arrival order."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.http = http
        self.ws = ws
        self.packets: asyncio.Queue[str] = asyncio.Queue()
        #: Events that arrived while :meth:`call` waited for its ack.
        self.early: list[list[Any]] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str) -> RawClient:
        http = aiohttp.ClientSession()
        ws = await http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket")
        opening = await ws.receive_str()
        assert opening.startswith("0{")
        return cls(http, ws)

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            if msg.data == "2":
                await self.ws.send_str("3")
            elif msg.data.startswith("4"):
                await self.packets.put(msg.data[1:])

    async def next(self) -> str:
        return await asyncio.wait_for(self.packets.get(), 5)

    async def connect(self, auth: dict[str, Any]) -> tuple[dict[str, Any], list[list[Any]]]:
        """Send CONNECT; the reply's data and the events that arrived before it."""
        await self.ws.send_str("40" + json.dumps(auth))
        before: list[list[Any]] = []
        while True:
            packet = await self.next()
            if packet.startswith("0"):
                return json.loads(packet[1:]), before
            if packet.startswith("4"):
                raise ConnectionRefused(json.loads(packet[1:])["message"])
            before.append(json.loads(packet[1:]))

    async def event(self) -> list[Any]:
        packet = await self.next()
        assert packet.startswith("2"), packet
        return json.loads(packet[1:])

    async def call(self, name: str, arg: Any, ack_id: int) -> list[Any]:
        """Emit with an ack id; events that come first are kept in ``early``."""
        await self.ws.send_str(f"42{ack_id}" + json.dumps([name, arg]))
        while True:
            packet = await self.next()
            if packet.startswith(f"3{ack_id}"):
                return json.loads(packet[1 + len(str(ack_id)) :])
            self.early.append(json.loads(packet[1:]))

    async def drop(self) -> None:
        """Cut the transport without a Socket.IO DISCONNECT (a network blip)."""
        await self.ws.close()
        await self.http.close()
        self._reader.cancel()

    async def leave(self) -> None:
        """Deliberate disconnect: the Socket.IO DISCONNECT packet, then close."""
        await self.ws.send_str("41")
        await self.drop()


def _app(recovery: Recovery, adapter: Any = None) -> tuple[web.Application, SocketServer]:
    """A server whose connect hook authenticates ``{"user": name}`` and joins room:<name>."""
    sio = SocketServer(recovery=recovery, adapter=adapter)
    app = web.Application()
    sio.attach(app)
    ns = sio.of("/")
    closed: list[str] = []
    sio.closed = closed  # type: ignore[attr-defined]

    @ns.on_connect
    def auth(sock: Socket, data: Any) -> None:
        user = data.get("user") if isinstance(data, dict) else None
        if not isinstance(user, str):
            raise ConnectionRefused("no user")
        sock.owner = user
        sock.data["user"] = user

    @ns.on_connected
    def joined(sock: Socket) -> None:
        sock.join(f"room:{sock.data['user']}")
        sock.emit("ready", sock.recovered)

    @ns.on_disconnect
    def gone(sock: Socket, reason: str) -> None:
        closed.append(reason)

    @ns.on("tell")
    def tell(sock: Socket, data: Any) -> str:
        sock.namespace.emit("told", data, to=f"room:{data['to']}")
        return "ok"

    @ns.on("whoami")
    def whoami(sock: Socket, _data: Any) -> list[str]:
        return sorted(sock.rooms)

    return app, sio


@pytest.fixture
async def memory_server(serve: Serve) -> AsyncIterator[tuple[str, SocketServer]]:
    app, sio = _app(Recovery(MemoryRecoveryStore(window=60, max_missed=5)))
    yield await serve(app), sio


async def _ready(client: RawClient, user: str, **extra: Any) -> tuple[dict[str, Any], list[Any]]:
    reply, _before = await client.connect({"user": user, **extra})
    ready = await client.event()
    assert ready[0] == "ready"
    return reply, ready


async def test_pid_offsets_and_no_offset_on_acks(memory_server):
    url, _sio = memory_server
    alice = await RawClient.open(url)
    reply, ready = await _ready(alice, "alice")
    assert set(reply) == {"sid", "pid"} and len(reply["pid"]) >= 22
    # socket:ready-like event: payload then the offset string.
    assert ready[1] is False and parse_offset(ready[2]) is not None
    alice.early = []
    ack = await alice.call("tell", {"to": "alice", "n": 1}, 7)
    assert ack == ["ok"]  # an ack carries no offset
    told = alice.early[0] if alice.early else await alice.event()
    assert told[:2] == ["told", {"to": "alice", "n": 1}]
    assert parse_offset(told[2]) is not None and told[2] != ready[2]
    await alice.drop()


async def test_dropped_transport_restores_sid_rooms_and_missed_events(memory_server):
    url, sio = memory_server
    alice = await RawClient.open(url)
    reply, ready = await _ready(alice, "alice")
    offset = ready[-1]
    await alice.drop()
    await until(lambda: sio.closed == ["transport close"])
    bob = await RawClient.open(url)
    await _ready(bob, "bob")
    bob.early = []
    for n in range(3):
        assert await bob.call("tell", {"to": "alice", "n": n}, n) == ["ok"]

    back = await RawClient.open(url)
    again, missed = await back.connect({"user": "alice", "pid": reply["pid"], "offset": offset})
    assert again == {"sid": reply["sid"], "pid": reply["pid"]}
    assert [m[:2] for m in missed] == [["told", {"to": "alice", "n": n}] for n in range(3)]
    assert (await back.event())[:2] == ["ready", True]
    back.early = []
    rooms = await back.call("whoami", None, 9)
    assert rooms == [sorted([reply["sid"], "room:alice"])]
    # Live again, once: nothing of the replay comes a second time.
    assert await bob.call("tell", {"to": "alice", "n": 3}, 4) == ["ok"]
    assert (await back.event())[:2] == ["told", {"to": "alice", "n": 3}]
    assert back.packets.empty()
    # Each replayed event carried an offset from which a further restore would resume.
    last = parse_offset(missed[-1][-1])
    assert last is not None and parse_offset(offset) is not None
    assert all(last[k] >= v for k, v in parse_offset(offset).items())
    await back.drop()
    await bob.drop()


async def test_deliberate_disconnect_ends_the_session(memory_server):
    url, _sio = memory_server
    alice = await RawClient.open(url)
    reply, ready = await _ready(alice, "alice")
    await alice.leave()
    back = await RawClient.open(url)
    again, missed = await back.connect({"user": "alice", "pid": reply["pid"], "offset": ready[-1]})
    assert missed == []
    assert again["sid"] != reply["sid"] and again["pid"] != reply["pid"]
    assert (await back.event())[:2] == ["ready", False]
    await back.drop()


async def test_another_owner_with_a_stolen_pid_gets_nothing(memory_server):
    url, sio = memory_server
    alice = await RawClient.open(url)
    reply, ready = await _ready(alice, "alice")
    await alice.drop()
    await until(lambda: len(sio.closed) == 1)
    bob = await RawClient.open(url)
    await _ready(bob, "bob")
    bob.early = []
    assert await bob.call("tell", {"to": "alice", "secret": 1}, 1) == ["ok"]

    mallory = await RawClient.open(url)
    again, missed = await mallory.connect(
        {"user": "mallory", "pid": reply["pid"], "offset": ready[-1]}
    )
    assert missed == [] and again["sid"] != reply["sid"] and again["pid"] != reply["pid"]
    assert (await mallory.event())[:2] == ["ready", False]
    mallory.early = []
    assert await mallory.call("whoami", None, 2) == [sorted([again["sid"], "room:mallory"])]
    assert mallory.early == []
    # The victim's session is untouched: alice still gets her event back.
    back = await RawClient.open(url)
    again, missed = await back.connect({"user": "alice", "pid": reply["pid"], "offset": ready[-1]})
    assert again["sid"] == reply["sid"]
    assert [m[:2] for m in missed] == [["told", {"to": "alice", "secret": 1}]]
    for client in (bob, mallory, back):
        await client.drop()


async def test_too_many_missed_events_fail_cleanly(memory_server):
    url, sio = memory_server  # max_missed=5
    alice = await RawClient.open(url)
    reply, ready = await _ready(alice, "alice")
    await alice.drop()
    await until(lambda: len(sio.closed) == 1)
    bob = await RawClient.open(url)
    await _ready(bob, "bob")
    bob.early = []
    for n in range(6):
        await bob.call("tell", {"to": "alice", "n": n}, n)
    back = await RawClient.open(url)
    again, missed = await back.connect({"user": "alice", "pid": reply["pid"], "offset": ready[-1]})
    assert missed == [] and again["pid"] != reply["pid"]
    assert (await back.event())[:2] == ["ready", False]
    for client in (bob, back):
        await client.drop()


async def test_garbage_pid_or_offset_connects_normally(memory_server):
    url, _sio = memory_server
    for auth in (
        {"pid": "x" * 30, "offset": "zz"},
        {"pid": "short", "offset": "a:1"},
        {"pid": 5, "offset": None},
        {"pid": "A" * 24, "offset": "ab:" + "f" * 40},
    ):
        client = await RawClient.open(url)
        reply, missed = await client.connect({"user": "alice", **auth})
        assert missed == [] and reply["pid"] != auth["pid"]
        await client.drop()


def test_offset_vectors_round_trip_and_reject_garbage():
    vector = {"0a1b2c3d": 0x1234, "ff": 1}
    assert parse_offset(format_vector(vector)) == vector
    for bad in ("", ".", "a:", ":1", "g:1", "a:1.", "a:1:2", "a:" + "1" * 17, "x" * 5000):
        assert parse_offset(bad) is None


async def test_redis_sessions_restore_on_another_process_after_the_first_is_gone(
    serve: Serve, redis_url: str | None
):
    """Two servers sharing Redis: the session opened on A is restored on B, with the
    events emitted (from B) while the client was away; A is shut down first."""
    if redis_url is None:
        pytest.skip("needs Redis")
    prefix = f"rec-test-{secrets.token_hex(4)}:"
    brokers = [RedisBroker(redis_url, prefix) for _ in range(2)]
    servers = []
    for broker in brokers:
        app, sio = _app(
            Recovery(RedisRecoveryStore(broker, window=60), emitter=broker.node_id),
            adapter=broker.adapter,
        )
        servers.append((await serve(app), sio))
    for broker in brokers:  # after the namespaces exist: subscribed at once
        await broker.start()
    (url_a, sio_a), (url_b, _sio_b) = servers
    try:
        alice = await RawClient.open(url_a)
        reply, _ready_event = await _ready(alice, "alice")
        bob = await RawClient.open(url_b)
        await _ready(bob, "bob")
        bob.early = []
        # A live event from B reaches alice on A with A's offset (which knows B's seq).
        await bob.call("tell", {"to": "alice", "n": 0}, 1)
        live = await alice.event()
        assert live[:2] == ["told", {"to": "alice", "n": 0}]
        await wait_redis(brokers[0])
        await alice.drop()
        await sio_a.shutdown(timeout=2)
        for n in range(1, 4):
            await bob.call("tell", {"to": "alice", "n": n}, n + 1)
        await wait_redis(brokers[1])
        back = await RawClient.open(url_b)
        again, missed = await back.connect(
            {"user": "alice", "pid": reply["pid"], "offset": live[-1]}
        )
        assert again == {"sid": reply["sid"], "pid": reply["pid"]}
        assert [m[:2] for m in missed] == [["told", {"to": "alice", "n": n}] for n in (1, 2, 3)]
        assert (await back.event())[:2] == ["ready", True]
        back.early = []
        await bob.call("tell", {"to": "alice", "n": 4}, 9)
        assert (await back.event())[:2] == ["told", {"to": "alice", "n": 4}]
        for client in (bob, back):
            await client.drop()
    finally:
        for broker in brokers:
            await broker.close()
        cleaner = RedisBroker(redis_url, prefix)
        await cleaner.start()
        keys = [k async for k in cleaner.redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await cleaner.redis.delete(*keys)
        await cleaner.close()


async def test_redis_room_logs_keep_their_expiry_with_one_refresh_per_period(
    scaleout_redis: tuple[str, bool],
):
    """Every room log (and its emitter set) outlives the window after each emit, though
    only the first emit of a refresh period sets the expiry. An emit to many rooms is
    one command on a single Redis and one per hash slot on a cluster, an emit to one
    room already refreshed a plain XADD, and a restore reads back each room's entries,
    exclusions included."""
    url, cluster = scaleout_redis
    broker = RedisBroker(url, f"rec-test-{secrets.token_hex(4)}:", cluster=cluster)
    await broker.start()
    store = RedisRecoveryStore(broker, window=60)
    commands: list[list[str]] = []
    original = broker.command

    def counted(write: Any) -> None:
        queued: list[str] = []

        class Pipe:
            def __getattr__(self, name: str) -> Any:
                queued.append(name)
                return lambda *args, **kwargs: None

        write(Pipe())
        commands.append(queued)
        original(write)

    broker.command = counted  # type: ignore[method-assign]
    rooms = [f"room-{n}" for n in range(12)]
    keys = [store._room_key("/", room) for room in rooms]
    slots = [len({key_slot(key.encode()) for key in some}) for some in (keys, keys[:2])]
    try:
        store.append("/", rooms, "e1", 1, frozenset({"room-3"}), [b'42["x",1]'])
        store.append("/", rooms[:2], "e1", 2, frozenset(), [b'42["x",2]', b"\x01bin"])
        store.append("/", rooms[1:2], "e1", 3, frozenset({"room-7"}), [b'42["x",3]'])
        await wait_redis(broker)
        assert commands[0] == ["eval"] * (slots[0] if cluster else 1)
        # Already refreshed: a slot's one room is a plain XADD, two rooms a script call.
        two_rooms = slots[1] if cluster else 1
        assert commands[1] == (["eval"] if two_rooms == 1 else ["xadd", "xadd"])
        assert commands[2] == ["xadd"]
        redis = broker.redis
        for n, key in enumerate(keys):
            assert await redis.xlen(f"{key}:e1") == (2, 3, 1)[min(n, 2)]
            assert await redis.pttl(f"{key}:e1") > 60_000
            assert await redis.smembers(f"{key}:e") == {b"e1"}
            assert await redis.pttl(f"{key}:e") > 60_000
        found = await store.entries("/", rooms[:3], {}, 0)
        assert found is not None
        assert sorted((e.seq, tuple(e.frames), e.excluded) for e in found) == [
            (1, (b'42["x",1]',), frozenset({"room-3"})),
            (1, (b'42["x",1]',), frozenset({"room-3"})),
            (1, (b'42["x",1]',), frozenset({"room-3"})),
            (2, (b'42["x",2]', b"\x01bin"), frozenset()),
            (2, (b'42["x",2]', b"\x01bin"), frozenset()),
            (3, (b'42["x",3]',), frozenset({"room-7"})),
        ]
        after_first = await store.entries("/", rooms[:3], {"e1": 1}, 0)
        assert after_first is not None and sorted(e.seq for e in after_first) == [2, 2, 3]
    finally:
        with contextlib.suppress(Exception):
            await broker.redis.delete(*(f"{k}:{s}" for k in keys for s in ("e1", "e")))
        await broker.close()


async def test_memory_log_entries_cost_the_garbage_collector_nothing():
    """A plain emit (one text frame, no exclusions, this process's emitter) is logged as
    its frame, which the collector never tracks; any other is a flat tuple of atoms,
    which the first young collection stops tracking. So a full log (up to window × rate
    entries) fills no collection with live objects; everything still comes back whole."""
    import gc

    store = MemoryRecoveryStore(window=60, max_missed=5)
    store.append("/", ("user:a", "user:d"), "e1", 1, frozenset(), (b'2["x"]',))
    seqs, items = store._rooms[("/", "user:a")]
    assert not any(gc.is_tracked(item) for item in items)  # before any collection
    store.append("/", ("user:a",), "e1", 2, frozenset({"user:b", "user:c"}), (b"b0", b"b1"))
    store.append("/", ("user:a",), "e2", 3, frozenset(), (b'2["y"]',))
    gc.collect(0)  # a young collection, as the first one to see them is
    assert not any(gc.is_tracked(item) for item in items) and list(seqs) == [1, 2, 3]
    found = await store.entries("/", ["user:a"], {}, 0)
    assert found is not None
    assert sorted((e.seq, e.emitter, e.excluded, e.frames) for e in found) == [
        (1, "e1", frozenset(), (b'2["x"]',)),
        (2, "e1", frozenset({"user:b", "user:c"}), (b"b0", b"b1")),
        (3, "e2", frozenset(), (b'2["y"]',)),
    ]
    after_one = await store.entries("/", ["user:a", "user:d"], {"e1": 1, "e2": 2}, 0)
    assert after_one is not None
    assert sorted((e.seq, e.emitter) for e in after_one) == [(2, "e1"), (3, "e2")]
