"""Socket.IO layer end to end, with python-socketio's AsyncClient over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import socketio
from aiohttp import web

from chatr_server.realtime import ConnectionRefused, Socket, SocketServer
from tests.helpers import until
from tests.realtime.helpers import Serve

TRANSPORTS = {
    "polling": ["polling"],
    "websocket": ["websocket"],
    "upgrade": ["polling", "websocket"],
}


def make_server(**options: Any) -> tuple[web.Application, SocketServer]:
    app = web.Application()
    sio = SocketServer(**options)
    sio.attach(app)
    return app, sio


async def connect(
    url: str, transports: list[str], namespaces: list[str] | None = None, auth: Any = None
) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(
        url, transports=transports, namespaces=namespaces or ["/"], auth=auth, wait_timeout=5
    )
    return client


@pytest.fixture(params=list(TRANSPORTS))
def transports(request: pytest.FixtureRequest) -> list[str]:
    return TRANSPORTS[request.param]


async def test_connect_events_acks_binary(serve: Serve, transports: list[str]) -> None:
    app, sio = make_server()
    ns = sio.of("/")
    disconnects: list[str] = []
    server_got_ack: list[Any] = []

    @ns.on_connect
    async def on_connect(sock: Socket, auth: Any) -> None:
        sock.data["auth"] = auth

    @ns.on_connected
    async def on_connected(sock: Socket) -> None:
        sock.emit("welcome", sock.data["auth"], sock.id)
        server_got_ack.append(await sock.call("ask", 41))

    @ns.on("echo")
    async def echo(sock: Socket, *args: Any) -> tuple[Any, ...]:
        return args

    @ns.on("sync-echo")
    def sync_echo(sock: Socket, value: Any) -> Any:
        return value

    @ns.on("bin")
    def binary(sock: Socket, data: bytes) -> dict[str, Any]:
        sock.emit("bin-back", {"raw": data[::-1], "nested": [b"\x00", "x"]})
        return {"len": len(data), "copy": data}

    @ns.on_disconnect
    def on_disconnect(sock: Socket, reason: str) -> None:
        disconnects.append(reason)

    url = await serve(app)
    client = socketio.AsyncClient(reconnection=False)
    welcome: list[Any] = []
    bin_back: list[Any] = []
    client.on("welcome", lambda auth, sid: welcome.append((auth, sid)))
    client.on("ask", lambda n: n + 1)
    client.on("bin-back", lambda data: bin_back.append(data))
    await client.connect(url, transports=transports, auth={"token": "t0k"}, wait_timeout=5)
    try:
        await until(lambda: bool(welcome) and bool(server_got_ack))
        assert welcome[0][0] == {"token": "t0k"}
        assert welcome[0][1] == client.get_sid("/") != client.eio.sid
        assert server_got_ack == [[42]]
        assert await client.call("echo", {"a": [1, "2", None]}, timeout=5) == {"a": [1, "2", None]}
        assert await client.call("sync-echo", "é漢字😀", timeout=5) == "é漢字😀"
        reply = await client.call("bin", b"\x01\x02\xff", timeout=5)
        assert reply == {"len": 3, "copy": b"\x01\x02\xff"}
        await until(lambda: bool(bin_back))
        assert bin_back[0] == {"raw": b"\xff\x02\x01", "nested": [b"\x00", "x"]}
        if transports == TRANSPORTS["upgrade"]:
            await until(lambda: client.transport() == "websocket")
            assert await client.call("echo", "after upgrade", timeout=5) == "after upgrade"
        assert len(ns.sockets) == 1
    finally:
        await client.disconnect()
    await until(lambda: bool(disconnects))
    # python-socketio queues "41" then aborts the websocket, so it may not get through.
    assert disconnects in (["client namespace disconnect"], ["transport close"])
    assert ns.sockets == {}


async def test_refused_connection_and_unknown_namespace(
    serve: Serve, transports: list[str]
) -> None:
    app, sio = make_server()
    ns = sio.of("/")

    @ns.on_connect
    def refuse(sock: Socket, auth: Any) -> None:
        if not auth or auth.get("token") != "good":
            raise ConnectionRefused("Authentication error: Invalid token")

    url = await serve(app)
    for namespace, expected in (
        ("/", "Authentication error: Invalid token"),
        ("/nope", "Invalid namespace"),
    ):
        client = socketio.AsyncClient(reconnection=False)
        errors: list[Any] = []
        client.on("connect_error", errors.append, namespace=namespace)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(
                url,
                transports=transports,
                namespaces=[namespace],
                auth={"token": "bad"},
                wait_timeout=5,
            )
        assert errors and errors[0] == {"message": expected}
        await client.disconnect()
    assert ns.sockets == {}
    good = await connect(url, transports, auth={"token": "good"})
    assert good.connected
    await good.disconnect()


async def test_rooms_and_broadcast(serve: Serve, transports: list[str]) -> None:
    app, sio = make_server()
    ns = sio.of("/chat")

    @ns.on("join")
    def join(sock: Socket, room: str) -> list[str]:
        sock.join(room)
        return sorted(sock.rooms)

    @ns.on("leave")
    def leave(sock: Socket, room: str) -> None:
        sock.leave(room)

    @ns.on("say")
    def say(sock: Socket, room: str, text: str) -> None:
        ns.emit("said", text, to=room, skip_sid=sock.id)

    url = await serve(app)
    clients = [await connect(url, transports, ["/chat"]) for _ in range(3)]
    inboxes: list[list[Any]] = [[], [], []]
    for client, inbox in zip(clients, inboxes, strict=True):
        client.on("said", inbox.append, namespace="/chat")
    try:
        sids = [c.get_sid("/chat") for c in clients]
        assert await clients[0].call("join", "r1", namespace="/chat") == sorted(["r1", sids[0]])
        await clients[1].call("join", "r1", namespace="/chat")
        assert ns.sockets_in("r1") == {sids[0], sids[1]}
        assert ns.room_size("r1") == 2
        await clients[0].emit("say", ("r1", "hello"), namespace="/chat")
        await until(lambda: inboxes[1] == ["hello"])
        ns.emit("said", "all")
        ns.emit("said", "not-r1", except_rooms="r1")
        ns.emit("said", "direct", to=sids[2])
        await until(lambda: inboxes[2] == ["all", "not-r1", "direct"])
        await until(lambda: inboxes[0] == ["all"] and inboxes[1] == ["hello", "all"])
        await clients[1].emit("leave", "r1", namespace="/chat")
        await until(lambda: ns.room_size("r1") == 1)
        # A socket is in its own room; the namespace lookup finds it.
        sock = ns.get_socket(sids[2])
        assert sock is not None and sids[2] in sock.rooms
    finally:
        for client in clients:
            await client.disconnect()
    await until(lambda: not ns.sockets and ns.room_size("r1") == 0)


async def test_handlers_run_in_order_and_do_not_block_others(serve: Serve) -> None:
    app, sio = make_server()
    ns = sio.of("/")
    seen: dict[str, list[int]] = {}
    slow_started, release = asyncio.Event(), asyncio.Event()

    @ns.on("work")
    async def work(sock: Socket, n: int, blocks: bool) -> None:
        if blocks:  # held until the other client got its answer
            slow_started.set()
            await release.wait()
        seen.setdefault(sock.id, []).append(n)

    @ns.on("ping")
    async def ping(sock: Socket) -> str:
        return "pong"

    url = await serve(app)
    a = await connect(url, ["websocket"])
    b = await connect(url, ["polling"])
    try:
        blocks = [True] + [False] * 19
        for n, block in enumerate(blocks):
            await a.emit("work", (n, block))
        await asyncio.wait_for(slow_started.wait(), 3)
        assert await b.call("ping", timeout=5) == "pong"  # not stuck behind a's handler
        assert seen == {}  # a's later events wait for its first one
        release.set()
        await until(lambda: len(seen.get(a.get_sid("/"), [])) == len(blocks))
        assert seen[a.get_sid("/")] == list(range(len(blocks)))
    finally:
        await a.disconnect()
        await b.disconnect()


async def test_disconnect_runs_after_pending_handlers(serve: Serve) -> None:
    app, sio = make_server()
    ns = sio.of("/")
    log: list[str] = []
    started, release = asyncio.Event(), asyncio.Event()

    @ns.on("slow")
    async def slow(sock: Socket) -> None:
        started.set()
        await release.wait()
        log.append("slow done")

    @ns.on_disconnect
    async def gone(sock: Socket, reason: str) -> None:
        log.append(f"disconnect: {reason}")

    url = await serve(app)
    client = await connect(url, ["websocket"])
    await client.emit("slow")
    await asyncio.wait_for(started.wait(), 5)
    await client.disconnect()
    await until(lambda: not ns.sockets)  # the server saw the disconnect...
    assert log == []  # ...and holds its hook behind the pending handler
    release.set()
    await until(lambda: len(log) == 2)
    assert log[0] == "slow done"
    assert log[1] in ("disconnect: client namespace disconnect", "disconnect: transport close")


async def test_server_side_disconnect_and_unknown_events(
    serve: Serve, transports: list[str]
) -> None:
    app, sio = make_server()
    ns = sio.of("/")
    reasons: list[str] = []
    unknown: list[Any] = []

    @ns.on_unknown
    def fallback(sock: Socket, event: str, *args: Any) -> str:
        unknown.append((event, args))
        return "fallback"

    @ns.on("kick")
    def kick(sock: Socket) -> None:
        sock.disconnect()

    @ns.on_disconnect
    def gone(sock: Socket, reason: str) -> None:
        reasons.append(reason)

    url = await serve(app)
    client = await connect(url, transports)
    client_disconnected = asyncio.Event()
    client.on("disconnect", lambda *a: client_disconnected.set())
    assert await client.call("whatever", 1, timeout=5) == "fallback"
    assert unknown == [("whatever", (1,))]
    await client.emit("kick")
    await asyncio.wait_for(client_disconnected.wait(), 5)
    await until(lambda: bool(reasons))
    assert reasons == ["server namespace disconnect"]
    await client.disconnect()


async def test_shutdown_disconnects_everyone(serve: Serve, transports: list[str]) -> None:
    app, sio = make_server()
    ns = sio.of("/")
    reasons: list[str] = []
    ns.on_disconnect(lambda sock, reason: reasons.append(reason))
    url = await serve(app)
    clients = [await connect(url, transports) for _ in range(2)]
    gone = asyncio.Event()
    clients[0].on("disconnect", lambda *a: gone.set())
    await sio.shutdown()
    await until(lambda: len(reasons) == 2)
    assert reasons == ["server shutting down"] * 2
    await asyncio.wait_for(gone.wait(), 5)
    for client in clients:
        await client.disconnect()


async def test_drain_and_wait_idle_wait_for_registered_pending_work(serve: Serve) -> None:
    """A handler that returns at once and answers later, from work handed elsewhere
    (as the chat layer's group commit does): ``wait_idle`` waits for that work, and
    its answer reaches the socket before a drain closes the connection."""
    app, sio = make_server()
    ns = sio.of("/")
    handed: list[tuple[Socket, Any]] = []

    @ns.on("later")
    def later(sock: Socket, value: Any) -> None:
        handed.append((sock, value))  # answered by the work below, not by a task

    async def work_done() -> None:
        # The work finishes only while someone waits for it: without the
        # registration nobody does, and no answer is ever sent.
        while handed:
            sock, value = handed.pop(0)
            sock.emit("answer", value)

    sio.on_pending_work(work_done)
    url = await serve(app)
    client = await connect(url, ["websocket"])
    seen: list[Any] = []
    client.on("answer", seen.append)
    client.on("disconnect", lambda *a: seen.append("disconnected"))
    await client.emit("later", 1)
    await until(lambda: bool(handed))
    await sio.wait_idle(timeout=5)
    assert handed == []
    await until(lambda: seen == [1])
    await client.emit("later", 2)
    await until(lambda: bool(handed))
    await asyncio.wait_for(sio.shutdown(), 5)
    await until(lambda: "disconnected" in seen)
    assert seen == [1, 2, "disconnected"]
    await client.disconnect()


async def test_call_timeout_and_reserved_names(serve: Serve) -> None:
    app, sio = make_server()
    ns = sio.of("/")
    outcome: list[Any] = []

    @ns.on_connected
    async def connected(sock: Socket) -> None:
        try:
            await sock.call("never-acked", timeout=0.1)
        except TimeoutError:
            outcome.append("timeout")
        with pytest.raises(ValueError):
            sock.emit("disconnect")

    async def slow_ack() -> None:
        await asyncio.sleep(1)  # python-socketio acks only when the handler returns

    url = await serve(app)
    client = socketio.AsyncClient(reconnection=False)
    client.on("never-acked", slow_ack)
    await client.connect(url, transports=["websocket"], wait_timeout=5)
    await until(lambda: bool(outcome))
    assert outcome == ["timeout"]
    await client.disconnect()


Handler = Callable[..., Awaitable[Any]]
