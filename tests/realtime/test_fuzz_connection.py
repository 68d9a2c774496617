"""Fuzzed frames against live connection handlers: sessions may close, nothing may crash.

"Crash" means: an exception escaping into the event loop, or an ERROR logged by the
realtime package (which would signal an unexpected exception in our own code).
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import aiohttp
import orjson
import pytest
import socketio
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatr_server.realtime import Socket, SocketServer
from tests.realtime.helpers import Serve


class _ErrorCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _build_server() -> SocketServer:
    sio = SocketServer(ping_interval=60, ping_timeout=60)
    for name in ("/", "/x"):
        ns = sio.of(name)
        ns.on("echo", lambda sock, *args: args)
        ns.on("emit", lambda sock, *args: sock.emit("back", *args))

        @ns.on("slow")
        async def slow(sock: Socket, *args: Any) -> Any:
            await asyncio.sleep(0)
            return args

        ns.on_unknown(lambda sock, event, *args: None)
    return sio


sio_text = st.one_of(
    st.sampled_from(
        [
            "0",
            "0/x,",
            '0{"a":1}',
            "1",
            "1/x,",
            '2["echo",1]',
            '21["echo",{"a":[1,2]}]',
            '2/x,7["slow",null]',
            '2["emit",{"_placeholder":true,"num":0}]',
            "3[]",
            "35[1]",
            '51-["echo",{"_placeholder":true,"num":0}]',
            '52-9["slow",{"_placeholder":true,"num":1}]',
            '61-3[{"_placeholder":true,"num":0}]',
            "4{}",
        ]
    ),
    st.text(max_size=30),
)
engine_text = st.one_of(
    sio_text.map(lambda t: "4" + t),
    st.sampled_from(["2", "3", "2probe", "5", "6", "1", "0"]),
    st.text(max_size=10),
)
frames = st.lists(st.one_of(engine_text, st.binary(max_size=8)), max_size=25)

_LOOP = asyncio.new_event_loop()


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(frames)
def test_fuzzed_frames_never_crash_the_handlers(messages: list[str | bytes]) -> None:
    loop_errors: list[dict[str, Any]] = []
    collector = _ErrorCollector()
    logger = logging.getLogger("chatr_server.realtime")
    logger.addHandler(collector)

    async def run() -> None:
        sio = _build_server()
        engine = sio.engine
        request = make_mocked_request("GET", "/socket.io/?EIO=4&transport=polling")
        session = engine._new_session(request, "polling")
        engine._start(session)
        for message in messages:
            if isinstance(message, str):
                session._on_text(message)
            else:
                session._deliver(message)
            await asyncio.sleep(0)
        for _ in range(5):
            await asyncio.sleep(0)
        await sio.shutdown()
        assert not engine.sessions

    _LOOP.set_exception_handler(lambda loop, context: loop_errors.append(context))
    try:
        _LOOP.run_until_complete(run())
    finally:
        logger.removeHandler(collector)
    assert loop_errors == []
    assert collector.records == []


async def test_random_garbage_over_real_sockets(serve: Serve) -> None:
    """Seeded garbage over websocket and polling; the server keeps serving afterwards."""
    collector = _ErrorCollector()
    logger = logging.getLogger("chatr_server.realtime")
    logger.addHandler(collector)
    app = web.Application()
    sio = _build_server()
    sio.attach(app)
    url = await serve(app)
    rng = random.Random(1234)
    pieces = ["4", "40", "42", '["echo",', "{", "}", "]", "/x,", "1", "5", "-", '"', "\x1e", "b"]

    def garbage() -> str:
        return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))

    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(40):
                async with http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket") as ws:
                    await ws.receive()
                    for _ in range(10):
                        if rng.random() < 0.2:
                            await ws.send_bytes(rng.randbytes(rng.randint(0, 5)))
                        else:
                            await ws.send_str(garbage())
                    await asyncio.sleep(0.001)
            for _ in range(40):
                async with http.get(f"{url}/socket.io/?EIO=4&transport=polling") as resp:
                    sid = orjson.loads((await resp.text())[1:])["sid"]
                body = "\x1e".join(garbage() for _ in range(rng.randint(1, 4)))
                async with http.post(
                    f"{url}/socket.io/?EIO=4&transport=polling&sid={sid}", data=body
                ) as resp:
                    assert resp.status in (200, 400)
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(url, transports=["websocket"], wait_timeout=5)
        assert await client.call("echo", "still alive", timeout=5) == "still alive"
        await client.disconnect()
    finally:
        logger.removeHandler(collector)
    assert collector.records == []


@pytest.fixture(autouse=True, scope="module")
def _close_fuzz_loop() -> Any:
    yield
    _LOOP.close()
