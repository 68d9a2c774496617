"""The websocket framing that takes over from aiohttp after the handshake (realtime.ws).

Raw frames over a plain TCP connection, to reach what a well-behaved client library never
sends: fragments, split frames, unmasked frames, oversized and malformed frames.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import os
import struct
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from chatr_server.realtime import EngineServer, EngineSession
from tests.helpers import until

request_tag: contextvars.ContextVar[str | None] = contextvars.ContextVar("tag", default=None)


class Server:
    """An echo EngineServer on its own runner (the test inspects aiohttp's connections)."""

    def __init__(self) -> None:
        self.closed: list[str] = []
        self.sessions: list[EngineSession] = []
        self.tags: list[str | None] = []
        self.engine = EngineServer(
            ping_interval=5,
            ping_timeout=5,
            max_payload=1000,
            on_connect=self.sessions.append,
            on_message=self._echo,
            on_close=lambda session, reason: self.closed.append(reason),
        )

        @web.middleware
        async def tag(request: web.Request, handler: Any) -> web.StreamResponse:
            token = request_tag.set(request.headers.get("X-Tag"))
            try:
                return await handler(request)
            finally:
                request_tag.reset(token)

        self.app = web.Application(middlewares=[tag])
        self.engine.attach(self.app, "/engine.io/")
        self.runner = web.AppRunner(self.app, shutdown_timeout=2.0)
        self.port = 0

    def _echo(self, session: EngineSession, data: str | bytes) -> None:
        self.tags.append(request_tag.get())
        session.send(data)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    await srv.runner.setup()
    site = web.TCPSite(srv.runner, "127.0.0.1", 0)
    await site.start()
    assert site._server is not None
    srv.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield srv
    await srv.runner.cleanup()


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def send(self, opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True) -> None:
        self.writer.write(frame(opcode, payload, fin=fin, mask=mask))

    async def receive(self) -> tuple[int, bytes]:
        """One frame from the server (which never masks nor fragments)."""
        first, second = await self.reader.readexactly(2)
        assert not second & 0x80
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        return first & 0x0F, await self.reader.readexactly(length)

    async def receive_close(self) -> int:
        opcode, payload = await self.receive()
        assert opcode == 0x8
        return int(struct.unpack("!H", payload[:2])[0])

    async def at_eof(self) -> bool:
        return await asyncio.wait_for(self.reader.read(1), 3) == b""


def frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    if size < 126:
        head = bytes((first, size | (0x80 if mask else 0)))
    elif size < 65536:
        head = struct.pack("!BBH", first, 126 | (0x80 if mask else 0), size)
    else:
        head = struct.pack("!BBQ", first, 127 | (0x80 if mask else 0), size)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


async def connect(server: Server, query: str = "", tag: str = "t1") -> RawClient:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /engine.io/?EIO=4&transport=websocket{query} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nX-Tag: {tag}\r\n\r\n"
        ).encode()
    )
    status = await reader.readuntil(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 101 "), status
    client = RawClient(reader, writer)
    if not query:
        opcode, payload = await client.receive()
        assert opcode == 0x1 and payload.startswith(b"0{")
    return client


async def test_aiohttp_forgets_the_connection(server: Server) -> None:
    client = await connect(server)
    assert server.runner.server is not None
    await until(lambda: not server.runner.server.connections)  # type: ignore[union-attr]
    client.send(0x1, b"4still served")
    assert await client.receive() == (0x1, b"4still served")
    assert server.tags == ["t1"]  # handlers run in the upgrade request's context


async def test_fragments_split_frames_and_control_frames(server: Server) -> None:
    client = await connect(server)
    client.send(0x1, b"4hel", fin=False)
    client.send(0x9, b"ping data")  # a control frame between fragments
    client.send(0x0, b"lo ", fin=False, mask=False)  # unmasked frames are accepted
    client.send(0x0, "wörld".encode())
    assert await client.receive() == (0xA, b"ping data")
    assert await client.receive() == (0x1, "4hello wörld".encode())
    data = frame(0x2, b"\x01\x02" * 200) + frame(0xA, b"") + frame(0x1, b"4x" * 300)
    for byte in data:  # one byte per write: every partial-frame path
        client.writer.write(bytes((byte,)))
        await client.writer.drain()
        await asyncio.sleep(0)
    assert await client.receive() == (0x2, b"\x01\x02" * 200)
    assert await client.receive() == (0x1, b"4x" * 300)
    client.writer.write(frame(0x1, b"4a") + frame(0x1, b"4b"))  # two frames, one write
    assert await client.receive() == (0x1, b"4a")
    assert await client.receive() == (0x1, b"4b")
    assert server.closed == []


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (frame(0x1, b"4" + b"x" * 1000), 1009),  # > maxPayload (1000)
        (frame(0x1, b"4" + b"x" * 500, fin=False) + frame(0x0, b"x" * 500), 1009),
        (frame(0x1, b"4\xff\xfe"), 1007),  # invalid UTF-8
        (bytes((0xC1, 0x80)) + b"\0\0\0\0", 1002),  # reserved bit
        (frame(0x3, b""), 1002),  # unknown opcode
        (frame(0x0, b"x"), 1002),  # continuation without a message
        (frame(0x1, b"4a", fin=False) + frame(0x1, b"4b"), 1002),  # expected continuation
        (frame(0x9, b"x", fin=False), 1002),  # fragmented control frame
        (frame(0x8, struct.pack("!H", 1005)), 1002),  # reserved close code
    ],
)
async def test_protocol_errors_close_with_their_code(
    server: Server, data: bytes, code: int
) -> None:
    client = await connect(server)
    client.writer.write(data)
    assert await client.receive_close() == code
    assert await client.at_eof()
    await until(lambda: server.closed == ["transport error"])


async def test_client_close_is_answered(server: Server) -> None:
    client = await connect(server)
    client.send(0x8, struct.pack("!H", 1001) + b"bye")
    assert await client.receive_close() == 1000
    assert await client.at_eof()
    await until(lambda: server.closed == ["transport close"])
    client = await connect(server)
    client.writer.close()  # no close frame at all
    await until(lambda: server.closed == ["transport close"] * 2)
    await until(lambda: server.engine._websockets.open == 0)


async def test_server_close_waits_for_the_client(server: Server) -> None:
    client = await connect(server)
    session = server.sessions[0]
    session.send("last words")
    session.close()
    assert await client.receive() == (0x1, b"4last words")
    assert await client.receive_close() == 1000
    client.send(0x1, b"4ignored while closing")
    await asyncio.sleep(0.05)
    assert not client.reader.at_eof()  # the server waits for our close frame
    client.send(0x8, struct.pack("!H", 1000))
    assert await client.at_eof()
    assert server.closed == ["forced close"]


async def test_upgrade_probe_over_raw_frames(server: Server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    sid = orjson.loads((await reader.readexactly(length))[1:])["sid"]
    writer.close()
    client = await connect(server, f"&sid={sid}")
    client.send(0x1, b"2probe")
    assert await client.receive() == (0x1, b"3probe")
    client.writer.write(frame(0x1, b"5") + frame(0x1, b"4right after the upgrade"))
    assert await client.receive() == (0x1, b"4right after the upgrade")
    assert server.sessions[0].transport == "websocket"


async def _handshake(server: Server, extra: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        (
            "GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n{extra}\r\n"
        ).encode()
    )
    try:
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    finally:
        writer.close()


async def test_handshakes_are_answered_or_refused_as_rfc_6455_says(server: Server) -> None:
    """Well-formed handshakes get the 101 written straight to the transport; what
    aiohttp must judge (a subprotocol, a bad key or version) still goes to it."""
    sample = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"  # RFC 6455 §1.3's example
    answer = await _handshake(
        server, f"Connection: keep-alive, Upgrade\r\n{sample}Sec-WebSocket-Version: 13\r\n"
    )
    lines = answer.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 101 Switching Protocols"
    assert "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in lines
    assert {"upgrade: websocket", "connection: upgrade"} <= {line.lower() for line in lines}
    # A subprotocol: aiohttp's handshake (none chosen), still an upgrade.
    answer = await _handshake(
        server,
        f"Connection: Upgrade\r\n{sample}Sec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: chat\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 101 ")
    assert b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in answer
    for bad in (
        "Connection: Upgrade\r\nSec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n",
        "Connection: Upgrade\r\nSec-WebSocket-Key: !!!!\r\nSec-WebSocket-Version: 13\r\n",
        f"Connection: Upgrade\r\n{sample}Sec-WebSocket-Version: 12\r\n",
        f"Connection: Upgrade\r\n{sample}",
        f"Connection: keep-alive\r\n{sample}Sec-WebSocket-Version: 13\r\n",
    ):
        assert (await _handshake(server, bad)).startswith(b"HTTP/1.1 400 "), bad
    assert len(server.sessions) == 2  # only the two upgrades opened sessions
