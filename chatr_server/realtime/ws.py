"""Websocket framing (RFC 6455) on a transport taken over from aiohttp after the upgrade.

Why this exists: an aiohttp websocket handler keeps the whole HTTP request alive for as
long as it runs: the parsed request line and headers, the HTTP parser, the request
handler, two tasks and a chain of suspended coroutines, plus the ``WebSocketResponse``
with its reader queue and writer. That is about 10 KiB per idle connection, more than
everything the Engine.IO / Socket.IO layers keep. So aiohttp still validates the
handshake and writes the 101 response, then :func:`detach` moves the transport to a
:class:`WsConnection` and the aiohttp handler returns: frames are parsed synchronously in
``data_received``, with no task per connection.

Writes leave at the end of the event-loop pass (:class:`WsFlusher`): whatever one pass
wrote to a connection goes out in one system call. A reconnect storm sends a socket
several ``user:status`` frames in the same pass; a message's ack and delivery leave
after the pass's work is done, not in the middle of it (measured: 12–20 % less server
CPU per connect in a storm, 5–8 % less per message, lower latency; docs/benchmarks.md).

Behaviour mirrors aiohttp's ``WebSocketResponse(compress=False, autoping=True)``: pings
are answered, a client's close is answered with 1000 and the transport closed, protocol
errors close with their code (1002, 1007, 1009), and a server-side close waits up to
``close_timeout`` for the client's close frame before closing the transport.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextvars
import hashlib
import logging
import struct
from typing import Final, Protocol

from aiohttp import WSCloseCode, web

log = logging.getLogger(__name__)

OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA
_OPCODES: Final = frozenset((OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG))
_ALLOWED_CLOSE_CODES: Final = frozenset(int(code) for code in WSCloseCode)
_NO_MESSAGE: Final = -1

_HEADER_16: Final = struct.Struct("!BBH").pack
_HEADER_64: Final = struct.Struct("!BBQ").pack
_CLOSE_CODE: Final = struct.Struct("!H")

# Reasons handed to WsHandler.ws_closed, as Engine.IO names them.
TRANSPORT_CLOSE: Final = "transport close"
TRANSPORT_ERROR: Final = "transport error"


class WsHandler(Protocol):
    """Receives a :class:`WsConnection`'s messages; all calls are synchronous."""

    def ws_text(self, conn: WsConnection, text: str) -> None: ...

    def ws_binary(self, conn: WsConnection, data: bytes) -> None: ...

    def ws_resumed(self, conn: WsConnection) -> None:
        """The transport accepts writes again after :attr:`WsConnection.paused`."""

    def ws_closed(self, conn: WsConnection, reason: str) -> None:
        """The client closed, failed or vanished; called at most once, never after
        :meth:`WsConnection.close` was called."""


class WsCounter:
    """Counts open connections so a shutdown can wait for their close handshakes."""

    __slots__ = ("_idle", "open")

    def __init__(self) -> None:
        self.open = 0
        self._idle: asyncio.Future[None] | None = None

    def _lost(self) -> None:
        self.open -= 1
        idle = self._idle
        if not self.open and idle is not None and not idle.done():
            idle.set_result(None)

    async def wait_closed(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait (at most ``timeout`` seconds) until no connection is left."""
        if not self.open:
            return
        idle = self._idle = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(idle, timeout)
        except TimeoutError:
            pass
        finally:
            self._idle = None


class WsFlusher:
    """Writes the frames queued during one event-loop pass: one write per connection."""

    __slots__ = ("_dirty",)

    def __init__(self) -> None:
        self._dirty: list[WsConnection] | None = None

    def add(self, conn: WsConnection) -> None:
        """``conn`` has frames to write: flush it at the end of this pass."""
        dirty = self._dirty
        if dirty is None:
            self._dirty = [conn]
            asyncio.get_running_loop().call_soon(self._flush)
        else:
            dirty.append(conn)

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, None
        for conn in dirty or ():
            conn.flush()


class WsConnection(asyncio.Protocol):
    """One server-side websocket after the handshake (no compression, no task)."""

    __slots__ = (
        "_buf",
        "_closing",
        "_counter",
        "_ctx",
        "_flusher",
        "_fragments",
        "_message_op",
        "_out",
        "_paused",
        "_timer",
        "close_timeout",
        "handler",
        "max_size",
        "transport",
    )

    def __init__(
        self,
        handler: WsHandler | None,
        *,
        max_size: int,
        close_timeout: float,
        counter: WsCounter,
        flusher: WsFlusher,
    ) -> None:
        self.handler = handler
        #: Largest accepted message in bytes; larger ones close the socket with 1009.
        self.max_size = max_size
        self.close_timeout = close_timeout
        self.transport: asyncio.Transport | None = None
        # The handler task's context (request id for logging, ...): callbacks run in it,
        # as they did when the receive loop ran inside aiohttp's handler task.
        self._ctx = contextvars.copy_context()
        self._counter = counter
        self._flusher = flusher
        self._out: list[bytes] | None = None  # frames written this pass, not yet flushed
        self._buf: bytearray | None = None  # unparsed bytes (a partial frame), if any
        self._message_op = _NO_MESSAGE  # opcode of a fragmented message in progress
        self._fragments: list[bytes] | None = None
        self._paused = False
        self._closing = False
        self._timer: asyncio.TimerHandle | None = None

    @property
    def paused(self) -> bool:
        """True while the transport's write buffer is above its high-water mark."""
        return self._paused

    # ---------------------------------------------------------------- writing

    def send(self, payload: bytes, opcode: int = OP_TEXT) -> None:
        """Queue one unfragmented frame for the end of this event-loop pass; raises
        ConnectionResetError once closing."""
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        out = self._out
        if out is None:
            out = self._out = []
            self._flusher.add(self)
        size = len(payload)
        if size < 126:
            out.append(bytes((0x80 | opcode, size)) + payload)
        elif size < 65536:
            out.append(_HEADER_16(0x80 | opcode, 126, size) + payload)
        else:  # no copy of a large payload
            out.append(_HEADER_64(0x80 | opcode, 127, size))
            out.append(payload)

    def flush(self) -> None:
        """Write the queued frames now (one system call)."""
        out, self._out = self._out, None
        transport = self.transport
        if out and transport is not None and not transport.is_closing():
            try:
                if len(out) == 1:
                    transport.write(out[0])
                else:
                    transport.writelines(out)
            except Exception as exc:  # a transport that fails a write is done for
                log.debug("websocket write failed: %r", exc)
                transport.abort()  # connection_lost tells the handler

    def close(self, code: int = WSCloseCode.OK) -> None:
        """Send a close frame and close the transport once the client answers (or after
        ``close_timeout``). The handler is not told: the caller already knows."""
        self.handler = None
        if self._closing:
            return
        self._closing = True
        transport = self.transport
        if transport is None:
            return
        try:
            self.send(_CLOSE_CODE.pack(code), OP_CLOSE)
        except ConnectionResetError:
            return
        self._timer = asyncio.get_running_loop().call_later(
            self.close_timeout, self._close_transport
        )

    def _close_transport(self) -> None:
        self._timer = None
        if self.transport is not None:
            self.flush()  # the close frame, and anything before it
            self.transport.close()

    def _notify_closed(self, reason: str) -> None:
        handler = self.handler
        if handler is not None:
            self.handler = None
            handler.ws_closed(self, reason)

    def _fail(self, code: int) -> int:
        """A protocol violation: tell the handler, close with ``code``, stop parsing."""
        self._notify_closed(TRANSPORT_ERROR)
        self.close(code)
        self._close_transport()  # nothing more will be read: no close handshake to wait for
        return -1

    # ---------------------------------------------------------------- protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # pragma: no cover
        raise RuntimeError("WsConnection is installed with detach(), not by a server")

    def connection_lost(self, exc: BaseException | None) -> None:
        self.transport = None
        self._buf = self._fragments = self._out = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._counter._lost()
        if self.handler is not None:
            self._ctx.run(self._notify_closed, TRANSPORT_CLOSE)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self.handler is not None:
            self._ctx.run(self.handler.ws_resumed, self)

    def data_received(self, data: bytes) -> None:
        self._ctx.run(self._feed, data)

    def eof_received(self) -> bool | None:
        return None  # let the transport close itself; connection_lost follows

    # ---------------------------------------------------------------- reading

    def _feed(self, data: bytes) -> None:
        buf = self._buf
        if buf is not None:
            buf += data
            source: bytes | bytearray = buf
        else:
            source = data
        consumed = self._parse(source)
        if consumed < 0 or consumed == len(source):
            self._buf = None
        elif buf is None:
            self._buf = bytearray(source[consumed:])
        else:
            del buf[:consumed]

    def _parse(self, data: bytes | bytearray) -> int:
        """Handle every complete frame in ``data``; the number of bytes used, -1 on error."""
        pos = 0
        size = len(data)
        while size - pos >= 2:
            if self.transport is None:
                return -1
            first = data[pos]
            second = data[pos + 1]
            opcode = first & 0x0F
            fin = first & 0x80
            if first & 0x70 or opcode not in _OPCODES:
                return self._fail(WSCloseCode.PROTOCOL_ERROR)  # reserved bits / opcode
            length = second & 0x7F
            if opcode > 0x7 and (not fin or length > 125):
                return self._fail(WSCloseCode.PROTOCOL_ERROR)  # bad control frame
            head = pos + 2
            if length == 126:
                if size - head < 2:
                    break
                length = data[head] << 8 | data[head + 1]
                head += 2
            elif length == 127:
                if size - head < 8:
                    break
                length = int.from_bytes(data[head : head + 8], "big")
                head += 8
            if opcode <= 0x7:
                fragments = self._fragments
                buffered = sum(map(len, fragments)) if fragments else 0
                if length + buffered > self.max_size:
                    return self._fail(WSCloseCode.MESSAGE_TOO_BIG)
            mask = None
            if second & 0x80:
                if size - head < 4:
                    break
                mask = data[head : head + 4]
                head += 4
            end = head + length
            if end > size:
                break
            payload = bytes(data[head:end])
            if mask is not None and length:
                payload = _unmask(mask, payload)
            pos = end
            if not self._frame(fin, opcode, payload):
                return -1
        return pos

    def _frame(self, fin: int, opcode: int, payload: bytes) -> bool:
        """Handle one frame; False once the connection failed or closed."""
        if opcode <= 0x2:
            if opcode == OP_CONTINUATION:
                if self._message_op == _NO_MESSAGE:
                    return self._fail(WSCloseCode.PROTOCOL_ERROR) >= 0
                fragments = self._fragments
                assert fragments is not None
                fragments.append(payload)
                if not fin:
                    return True
                opcode = self._message_op
                self._message_op = _NO_MESSAGE
                self._fragments = None
                payload = b"".join(fragments)
            elif self._message_op != _NO_MESSAGE:
                return self._fail(WSCloseCode.PROTOCOL_ERROR) >= 0  # expected continuation
            elif not fin:
                self._message_op = opcode
                self._fragments = [payload]
                return True
            if self._closing:
                return True  # waiting for the client's close frame: data is dropped
            handler = self.handler
            if opcode == OP_TEXT:
                try:
                    text = payload.decode()
                except UnicodeDecodeError:
                    return self._fail(WSCloseCode.INVALID_TEXT) >= 0
                if handler is not None:
                    handler.ws_text(self, text)
            elif handler is not None:
                handler.ws_binary(self, payload)
            return self.transport is not None
        if opcode == OP_PING:
            if not self._closing:
                try:
                    self.send(payload, OP_PONG)
                except ConnectionResetError:
                    return False
            return True
        if opcode == OP_PONG:
            return True
        # OP_CLOSE: validate like aiohttp, then answer (unless we closed first) and hang up.
        if len(payload) >= 2:
            code = _CLOSE_CODE.unpack_from(payload)[0]
            if code < 3000 and code not in _ALLOWED_CLOSE_CODES:
                return self._fail(WSCloseCode.PROTOCOL_ERROR) >= 0
            try:
                payload[2:].decode()
            except UnicodeDecodeError:
                return self._fail(WSCloseCode.INVALID_TEXT) >= 0
        elif payload:
            return self._fail(WSCloseCode.PROTOCOL_ERROR) >= 0
        self._notify_closed(TRANSPORT_CLOSE)
        self.close()
        self._close_transport()
        return False


def _unmask(mask: bytes | bytearray, payload: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``mask`` (one big-integer operation, in C)."""
    size = len(payload)
    key = (bytes(mask) * ((size >> 2) + 1))[:size]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
        size, "little"
    )


# RFC 6455 §1.3: the GUID the server appends to the client's key.
_WS_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_VERSIONS: Final = ("13", "8", "7")  # what aiohttp's handshake accepts too


def upgrade_response(request: web.Request) -> bytes | None:
    """The ``101 Switching Protocols`` answer to a well-formed websocket handshake, or
    None for anything else: a request without a valid key or version, or one that
    asks for a subprotocol, is left to aiohttp's ``WebSocketResponse.prepare``
    (which refuses it, or negotiates), so refusals stay aiohttp's.

    What every socket.io client sends takes this path: the answer is a few header
    lines written straight to the transport, without aiohttp's response machinery
    (about a twentieth of a reconnect storm's CPU).
    """
    headers = request.headers
    if headers.get("Upgrade", "").strip().lower() != "websocket":
        return None
    if "upgrade" not in (t.strip() for t in headers.get("Connection", "").lower().split(",")):
        return None
    if headers.get("Sec-WebSocket-Version") not in _VERSIONS:
        return None
    if "Sec-WebSocket-Protocol" in headers:
        return None
    key = headers.get("Sec-WebSocket-Key", "")
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            return None
    except (binascii.Error, ValueError):
        return None
    accept = base64.b64encode(hashlib.sha1(key.encode() + _WS_GUID).digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


def detach(
    request: web.Request,
    handler: WsHandler | None,
    *,
    max_size: int,
    close_timeout: float,
    counter: WsCounter,
    flusher: WsFlusher,
) -> WsConnection:
    """Take the upgraded connection of ``request`` away from aiohttp.

    Call right after the 101 was written (:func:`upgrade_response`, or
    ``WebSocketResponse.prepare(request)``), with no ``await`` in between, then return
    :func:`detached_response` from the handler. aiohttp is told the connection is lost,
    with its transport cleared first so it does not close it; it forgets the request and
    its handler task ends. Bytes a client
    sent before receiving the 101 (RFC 6455 forbids it) stay with aiohttp and are dropped.
    """
    transport = request.transport
    protocol = request.protocol
    if transport is None or transport.is_closing():
        raise ConnectionResetError("connection closed during the websocket handshake")
    conn = WsConnection(
        handler, max_size=max_size, close_timeout=close_timeout, counter=counter, flusher=flusher
    )
    transport.set_protocol(conn)
    conn.transport = transport  # type: ignore[assignment]
    counter.open += 1
    protocol.transport = None
    protocol.connection_lost(None)
    return conn


def detached_response() -> web.StreamResponse:
    """What a handler returns after :func:`detach`: aiohttp's attempt to send it fails
    quietly (its side of the connection is gone), and the access log shows the 101."""
    return web.StreamResponse(status=101)
