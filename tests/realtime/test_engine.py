"""Engine.IO layer over real sockets, with raw HTTP / websocket requests.

Timers (heartbeat, upgrade timeout, close grace) run on a ManualClock where a test
depends on them, so deadlines are exact instants rather than wall-clock margins.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from chatr_server.realtime import EngineServer, EngineSession
from tests.clock import ManualClock
from tests.helpers import until
from tests.realtime.helpers import Serve


class Echo:
    """An echo EngineServer that records lifecycle events."""

    def __init__(self, **options: Any) -> None:
        options.setdefault("ping_interval", 0.3)
        options.setdefault("ping_timeout", 0.2)
        self.closed: list[tuple[str, str]] = []
        self.sessions: list[EngineSession] = []
        self.engine = EngineServer(
            on_connect=self.sessions.append,
            on_message=lambda session, data: session.send(data),
            on_close=lambda session, reason: self.closed.append((session.sid, reason)),
            **options,
        )
        self.app = web.Application()
        self.engine.attach(self.app, "/engine.io/")


@pytest.fixture
async def http() -> Any:
    async with aiohttp.ClientSession() as session:
        yield session


async def open_polling(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(f"{url}/engine.io/?EIO=4&transport=polling") as resp:
        assert resp.status == 200
        body = await resp.text()
    return orjson.loads(body[1:])["sid"]


def poll_pending(echo: Echo, sid: str) -> bool:
    """Whether the server holds a long-poll GET of ``sid`` (sent, not yet answered)."""
    return echo.engine.sessions[sid]._poll_waiter is not None


async def get(http: aiohttp.ClientSession, url: str, sid: str) -> tuple[int, str]:
    async with http.get(f"{url}/engine.io/?EIO=4&transport=polling&sid={sid}") as resp:
        return resp.status, await resp.text()


async def post(
    http: aiohttp.ClientSession, url: str, sid: str, body: str | bytes
) -> tuple[int, str]:
    async with http.post(f"{url}/engine.io/?EIO=4&transport=polling&sid={sid}", data=body) as resp:
        return resp.status, await resp.text()


async def test_handshake_values(serve: Serve, http: aiohttp.ClientSession) -> None:
    echo = Echo(ping_interval=25.0, ping_timeout=20.0, max_payload=12345)
    url = await serve(echo.app)
    async with http.get(f"{url}/engine.io/?EIO=4&transport=polling") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/plain; charset=UTF-8"
        body = await resp.text()
    assert body[0] == "0"
    handshake = orjson.loads(body[1:])
    assert list(handshake) == ["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"]
    assert handshake["upgrades"] == ["websocket"]
    assert (handshake["pingInterval"], handshake["pingTimeout"]) == (25000, 20000)
    assert handshake["maxPayload"] == 12345
    async with http.ws_connect(f"{url}/engine.io/?EIO=4&transport=websocket") as ws:
        msg = await ws.receive_str()
        assert orjson.loads(msg[1:])["upgrades"] == []


@pytest.mark.parametrize(
    ("method", "query", "status", "code", "message"),
    [
        ("GET", "EIO=4", 400, 0, "Transport unknown"),
        ("GET", "EIO=4&transport=abc", 400, 0, "Transport unknown"),
        ("GET", "transport=polling", 400, 5, "Unsupported protocol version"),
        ("GET", "EIO=3&transport=polling", 400, 5, "Unsupported protocol version"),
        ("GET", "EIO=4&transport=polling&sid=nope", 400, 1, "Session ID unknown"),
        ("POST", "EIO=4&transport=polling", 400, 2, "Bad handshake method"),
        ("PUT", "EIO=4&transport=polling", 400, 2, "Bad handshake method"),
        ("GET", "EIO=4&transport=websocket", 400, 3, "Bad request"),  # no Upgrade header
    ],
)
async def test_error_codes(
    serve: Serve,
    http: aiohttp.ClientSession,
    method: str,
    query: str,
    status: int,
    code: int,
    message: str,
) -> None:
    url = await serve(Echo().app)
    async with http.request(method, f"{url}/engine.io/?{query}") as resp:
        assert resp.status == status
        assert resp.headers["Content-Type"] == "application/json"
        assert await resp.read() == orjson.dumps({"code": code, "message": message})


async def test_forbidden_and_cors(serve: Serve, http: aiohttp.ClientSession) -> None:
    echo = Echo(
        allow_request=lambda request: request.headers.get("X-Ok") == "1",
        cors_allow_origin=["https://app.example"],
    )
    url = await serve(echo.app)
    async with http.get(f"{url}/engine.io/?EIO=4&transport=polling") as resp:
        assert resp.status == 403
        assert await resp.json() == {"code": 4, "message": "Forbidden"}
    headers = {"X-Ok": "1", "Origin": "https://app.example"}
    async with http.get(f"{url}/engine.io/?EIO=4&transport=polling", headers=headers) as resp:
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == "https://app.example"
        assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Headers": "x-ok"}
    async with http.options(f"{url}/engine.io/?EIO=4&transport=polling", headers=preflight) as r:
        assert r.status == 204
        assert r.headers["Access-Control-Allow-Headers"] == "x-ok"
    async with http.get(
        f"{url}/engine.io/?EIO=4&transport=polling", headers={"X-Ok": "1", "Origin": "https://evil"}
    ) as resp:
        assert "Access-Control-Allow-Origin" not in resp.headers


async def test_polling_batches_and_binary(serve: Serve, http: aiohttp.ClientSession) -> None:
    url = await serve(Echo().app)
    sid = await open_polling(http, url)
    assert await post(http, url, sid, "4hello\x1ebAQIDBA==\x1e4é😀") == (200, "ok")
    assert await get(http, url, sid) == (200, "4hello\x1ebAQIDBA==\x1e4é😀")


async def test_parse_errors_close_the_session(serve: Serve, http: aiohttp.ClientSession) -> None:
    echo = Echo()
    url = await serve(echo.app)
    for bad in ("abc", "", "4ok\x1e", "b!!!", "0{}", b"\xff\xfe"):
        sid = await open_polling(http, url)
        status, _ = await post(http, url, sid, bad)
        assert status == 400, bad
        assert (await get(http, url, sid))[0] == 400
        assert echo.closed[-1] == (sid, "parse error")


async def test_duplicate_get_closes(serve: Serve, http: aiohttp.ClientSession) -> None:
    echo = Echo()
    url = await serve(echo.app)
    sid = await open_polling(http, url)
    first = asyncio.ensure_future(get(http, url, sid))
    await until(lambda: poll_pending(echo, sid))
    assert (await get(http, url, sid))[0] == 400
    assert await first == (200, "1")
    assert (await get(http, url, sid))[0] == 400
    assert echo.closed == [(sid, "transport error")]


async def test_payload_limits(serve: Serve, http: aiohttp.ClientSession) -> None:
    echo = Echo(max_payload=1000)
    url = await serve(echo.app)
    sid = await open_polling(http, url)
    assert (await post(http, url, sid, "4" + "x" * 1000))[0] == 413
    assert (await get(http, url, sid))[0] == 400
    async with http.ws_connect(f"{url}/engine.io/?EIO=4&transport=websocket") as ws:
        await ws.receive()
        await ws.send_str("4" + "x" * 999)
        assert (await ws.receive()).data == "4" + "x" * 999
        await ws.send_str("4" + "x" * 2000)
        msg = await ws.receive()
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await until(lambda: len(echo.closed) == 2)
    assert echo.closed[1][1] == "transport error"


async def test_heartbeat_polling(serve: Serve, http: aiohttp.ClientSession) -> None:
    """A ping every pingInterval counted from the last pong; no pong within pingTimeout
    closes the session. An echoed message is the barrier for "no ping yet"."""
    clock = ManualClock()
    echo = Echo(ping_interval=1, ping_timeout=1, clock=clock)
    url = await serve(echo.app)
    sid = await open_polling(http, url)
    clock.advance(0.5)
    assert await post(http, url, sid, "4a") == (200, "ok")
    assert await get(http, url, sid) == (200, "4a")  # half an interval: no ping yet
    clock.advance(0.5)
    assert await get(http, url, sid) == (200, "2")  # due exactly now
    clock.advance(0.5)
    assert await post(http, url, sid, "3") == (200, "ok")  # the next ping is due in 1 s
    clock.advance(0.75)
    assert await post(http, url, sid, "4b") == (200, "ok")
    assert await get(http, url, sid) == (200, "4b")
    clock.advance(0.25)
    assert await get(http, url, sid) == (200, "2")
    clock.advance(0.75)
    assert echo.closed == []  # pingTimeout not over yet
    clock.advance(0.25)  # no pong: ping timeout
    assert echo.closed == [(sid, "ping timeout")]
    assert (await get(http, url, sid))[0] == 400


async def test_heartbeat_websocket(serve: Serve, http: aiohttp.ClientSession) -> None:
    clock = ManualClock()
    echo = Echo(ping_interval=1, ping_timeout=1, clock=clock)
    url = await serve(echo.app)
    async with http.ws_connect(f"{url}/engine.io/?EIO=4&transport=websocket") as ws:
        await ws.receive()
        clock.advance(1)
        assert (await ws.receive()).data == "2"
        await ws.send_str("3")
        await ws.send_str("4after pong")  # its echo proves the pong was handled
        assert (await ws.receive()).data == "4after pong"
        clock.advance(1)
        assert (await ws.receive()).data == "2"
        clock.advance(1)  # no pong this time
        msg = await ws.receive()
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert echo.closed[-1][1] == "ping timeout"


async def test_close_from_either_side(serve: Serve, http: aiohttp.ClientSession) -> None:
    clock = ManualClock()
    echo = Echo(ping_interval=60, ping_timeout=60, clock=clock)
    url = await serve(echo.app)
    sid = await open_polling(http, url)
    pending = asyncio.ensure_future(get(http, url, sid))
    await until(lambda: poll_pending(echo, sid))
    assert await post(http, url, sid, "1") == (200, "ok")
    assert await pending == (200, "6")
    assert echo.closed[-1] == (sid, "transport close")

    # CLOSE posted before the client's GET arrived: that GET still ends with a NOOP.
    sid = await open_polling(http, url)
    assert await post(http, url, sid, "1") == (200, "ok")
    assert await get(http, url, sid) == (200, "6")
    assert (await get(http, url, sid))[0] == 400
    # ... and a GET that never comes does not keep the session past the grace period.
    sid = await open_polling(http, url)
    assert await post(http, url, sid, "1") == (200, "ok")
    assert sid in echo.engine.sessions
    clock.advance(5)
    assert sid not in echo.engine.sessions

    # Server-side graceful close: queued data then CLOSE reach the next GET.
    sid = await open_polling(http, url)
    session = echo.engine.sessions[sid]
    session.send("bye")
    session.close()
    assert await get(http, url, sid) == (200, "4bye\x1e1")
    assert (await get(http, url, sid))[0] == 400
    assert echo.closed[-1] == (sid, "forced close")

    async with http.ws_connect(f"{url}/engine.io/?EIO=4&transport=websocket") as ws:
        sid = orjson.loads((await ws.receive()).data[1:])["sid"]
        echo.engine.sessions[sid].close()
        msg = await ws.receive()
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_upgrade(serve: Serve, http: aiohttp.ClientSession) -> None:
    echo = Echo(ping_interval=5, ping_timeout=5)
    url = await serve(echo.app)
    sid = await open_polling(http, url)
    pending = asyncio.ensure_future(get(http, url, sid))
    await until(lambda: poll_pending(echo, sid))
    ws_url = f"{url}/engine.io/?EIO=4&transport=websocket&sid={sid}"
    async with http.ws_connect(ws_url) as ws:
        await ws.send_str("2probe")
        assert (await ws.receive()).data == "3probe"
        assert await pending == (200, "6")  # the pending GET is released with a noop
        assert await get(http, url, sid) == (200, "6")  # still upgrading: immediate noop
        echo.sessions[0].send("queued during upgrade")
        await ws.send_str("5")
        assert (await ws.receive()).data == "4queued during upgrade"
        await ws.send_bytes(b"\x00\x01")
        assert (await ws.receive()).data == b"\x00\x01"
        assert (await get(http, url, sid))[0] == 400  # polling is over for this sid
        async with http.ws_connect(ws_url) as second:  # a second websocket is refused
            msg = await second.receive()
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        await ws.send_str("4still here")
        assert (await ws.receive()).data == "4still here"
    assert echo.engine.sessions == {} or await until(lambda: not echo.engine.sessions) is None


async def test_failed_probe_keeps_polling(serve: Serve, http: aiohttp.ClientSession) -> None:
    echo = Echo(ping_interval=5, ping_timeout=5)
    url = await serve(echo.app)
    sid = await open_polling(http, url)
    async with http.ws_connect(f"{url}/engine.io/?EIO=4&transport=websocket&sid={sid}") as ws:
        await ws.send_str("4not a probe")
        msg = await ws.receive()
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert await post(http, url, sid, "4still polling") == (200, "ok")
    assert await get(http, url, sid) == (200, "4still polling")


async def test_upgrade_timeout_keeps_polling(serve: Serve, http: aiohttp.ClientSession) -> None:
    """A probe that never sends "5" is dropped after upgradeTimeout; polling goes on."""
    clock = ManualClock()
    echo = Echo(ping_interval=60, ping_timeout=60, upgrade_timeout=10, clock=clock)
    url = await serve(echo.app)
    sid = await open_polling(http, url)
    async with http.ws_connect(f"{url}/engine.io/?EIO=4&transport=websocket&sid={sid}") as ws:
        await ws.send_str("2probe")
        assert (await ws.receive()).data == "3probe"  # the probe (and its timer) is set
        clock.advance(9.5)
        assert echo.engine.sessions[sid].upgrading
        clock.advance(0.5)
        msg = await ws.receive()
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert not echo.engine.sessions[sid].upgrading
    assert await post(http, url, sid, "4still polling") == (200, "ok")
    assert await get(http, url, sid) == (200, "4still polling")
    assert echo.closed == []


async def test_send_queue_is_bounded(serve: Serve, http: aiohttp.ClientSession) -> None:
    echo = Echo(ping_interval=5, ping_timeout=5, max_queued_packets=10)
    url = await serve(echo.app)
    sid = await open_polling(http, url)
    session = echo.engine.sessions[sid]
    for i in range(11):
        session.send(f"m{i}")
    assert echo.closed == [(sid, "transport error")]
    assert (await get(http, url, sid))[0] == 400


async def test_websocket_backpressure_is_bounded(serve: Serve, http: aiohttp.ClientSession) -> None:
    echo = Echo(ping_interval=5, ping_timeout=5, max_payload=100_000, max_queued_bytes=1_000_000)
    url = await serve(echo.app)
    async with http.ws_connect(f"{url}/engine.io/?EIO=4&transport=websocket") as ws:
        await ws.receive()
        session = echo.sessions[0]
        chunk = "x" * 99_000
        for _ in range(2000):  # ~200 MB offered to a client that does not read
            session.send(chunk)
            if session.closed:
                break
            await asyncio.sleep(0)
        assert session.closed
        assert echo.closed == [(session.sid, "transport error")]


async def test_long_polling_responses_carry_at_most_sixteen_packets(
    serve: Serve, http: aiohttp.ClientSession
) -> None:
    """python-engineio clients drop a payload of more than 16 packets whole; the rest
    of the queue goes to the next GETs, in order, and a graceful close waits until
    the client has collected all of it."""
    echo = Echo(ping_interval=60, ping_timeout=60)
    url = await serve(echo.app)
    sid = await open_polling(http, url)
    session = echo.engine.sessions[sid]
    for i in range(40):
        session.send(f"m{i}")
    bodies = [(await get(http, url, sid))[1].split("\x1e") for _ in range(3)]
    assert [len(b) for b in bodies] == [16, 16, 8]
    assert [p for b in bodies for p in b] == [f"4m{i}" for i in range(40)]

    # Closing with a long queue and no GET pending: every packet, then CLOSE.
    for i in range(20):
        session.send(f"c{i}")
    session.close()
    first, second = (await get(http, url, sid))[1], (await get(http, url, sid))[1]
    assert (first + "\x1e" + second).split("\x1e") == [f"4c{i}" for i in range(20)] + ["1"]
    assert (await get(http, url, sid))[0] == 400

    # Closing with a long queue while a GET is pending: the same.
    sid = await open_polling(http, url)
    session = echo.engine.sessions[sid]
    pending = asyncio.ensure_future(get(http, url, sid))
    await until(lambda: poll_pending(echo, sid))
    for i in range(20):
        session.send(f"d{i}")
    session.close()
    first = (await pending)[1]
    second = (await get(http, url, sid))[1]
    assert (first + "\x1e" + second).split("\x1e") == [f"4d{i}" for i in range(20)] + ["1"]
    assert echo.closed[-1] == (sid, "forced close")
