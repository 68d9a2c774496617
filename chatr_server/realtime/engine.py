"""Engine.IO v4 server on raw aiohttp: long-polling, websocket, upgrade, heartbeat.

Design notes (the "why"):

* No task per session. Heartbeats are ``loop.call_at`` timers; a long-poll GET is just
  the request handler waiting on a future. A websocket is taken over from aiohttp once the
  handshake is done (see :mod:`.ws`): frames are parsed in ``data_received`` and written
  synchronously; while the peer applies backpressure, frames wait in the bounded queue.
* Outgoing data are pre-encoded frames (see :mod:`eio_protocol`) so a broadcast is encoded
  once and the same objects are queued for every recipient.
* Every queue is bounded; exceeding it closes the session ("transport error").
* Parse errors never escape: a session that sends garbage is closed with "parse error".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any, Final, Protocol

import orjson
from aiohttp import web
from multidict import CIMultiDictProxy

from chatr_server.util.clock import Clock, LoopClock, Timer

from . import eio_protocol as eio
from .eio_protocol import BinaryFrame
from .errors import ProtocolError
from .ws import (
    OP_BINARY,
    OP_TEXT,
    WsConnection,
    WsCounter,
    WsFlusher,
    detach,
    detached_response,
    upgrade_response,
)

log = logging.getLogger("chatr_server.realtime.engine")

POLLING: Final = "polling"
WEBSOCKET: Final = "websocket"

# Engine.IO error codes and messages, exactly as the reference server sends them.
UNKNOWN_TRANSPORT: Final = (0, "Transport unknown")
UNKNOWN_SID: Final = (1, "Session ID unknown")
BAD_HANDSHAKE_METHOD: Final = (2, "Bad handshake method")
BAD_REQUEST: Final = (3, "Bad request")
FORBIDDEN: Final = (4, "Forbidden")
UNSUPPORTED_PROTOCOL_VERSION: Final = (5, "Unsupported protocol version")
# Not a protocol error: the answer to a handshake while the server drains (HTTP 503).
SHUTTING_DOWN: Final = (4, "Server is shutting down")

# Session states. CLOSING only exists for a graceful server-side close on long-polling:
# the final frames (ending with CLOSE) wait for the client's next GET.
_OPEN: Final = 0
_CLOSING: Final = 1
_CLOSED: Final = 2

# Default send-queue bound in packets: far above any burst a healthy client sees between
# two polls, small enough that a dead client costs at most a few hundred KiB.
DEFAULT_MAX_QUEUED_PACKETS: Final = 1000
#: Packets per long-polling response. python-engineio clients refuse a payload of
#: more than 16 ("Too many packets in payload") and drop all of it; the rest of the
#: queue goes to the next GET, which the client sends at once.
MAX_PAYLOAD_PACKETS: Final = 16
# How long a server-closed polling session waits for the GET that collects its CLOSE
# packet; the reference server uses a similar grace period before dropping the client.
_CLOSE_GRACE_SECONDS: Final = 5.0
# Close handshake timeout (our WsConnection, and aiohttp for sockets it still runs): a peer
# that never answers our close frame must not keep its connection and buffers alive.
_WS_CLOSE_TIMEOUT: Final = 2.0

OnConnect = Callable[["EngineSession"], None]
OnMessage = Callable[["EngineSession", "str | bytes"], None]
OnClose = Callable[["EngineSession", str], None]
AllowRequest = Callable[[web.Request], "bool | Awaitable[bool]"]


class Router(Protocol):
    """Multi-process session routing (see :mod:`.cluster` for the implementation)."""

    def new_sid(self, request: web.Request) -> str:
        """A new session id (for a handshake ``request``) naming this process its owner."""

    def owner(self, sid: str) -> str | None:
        """The node owning ``sid`` when it is not this process, else None."""

    async def forward(
        self, request: web.Request, node: str, engine: EngineServer
    ) -> web.StreamResponse | None:
        """Answer ``request`` through ``node``; None when that is impossible."""


class Handshake:
    """What the server knew about the client when the session was opened."""

    __slots__ = ("address", "headers", "query", "secure", "time", "url")

    def __init__(self, request: web.Request) -> None:
        self.headers: CIMultiDictProxy[str] = request.headers
        self.query: dict[str, str] = dict(request.query)
        self.address: str = request.remote or ""
        self.time: float = time.time()
        self.secure: bool = request.secure
        self.url: str = request.path_qs

    def __repr__(self) -> str:
        return f"Handshake(address={self.address!r}, query={self.query!r})"


def _opcode(frame: bytes) -> int:
    return OP_BINARY if type(frame) is BinaryFrame else OP_TEXT


class EngineSession:
    """One Engine.IO connection (one client), whatever transport it currently uses."""

    __slots__ = (
        "_awaiting_pong",
        "_poll_waiter",
        "_polled",
        "_post_busy",
        "_queue",
        "_queued_bytes",
        "_timer",
        "_ws",
        "ctx",
        "handshake",
        "server",
        "sid",
        "state",
        "transport",
        "upgrading",
    )

    def __init__(self, server: EngineServer, sid: str, transport: str, handshake: Handshake):
        self.server = server
        self.sid = sid
        self.transport = transport
        self.handshake = handshake
        self.state = _OPEN
        self.upgrading = False
        #: Free slot for the layer above (the Socket.IO server stores its client here).
        self.ctx: Any = None
        self._queue: deque[bytes] | None = None  # created lazily: an empty deque is ~600 B
        self._queued_bytes = 0
        self._poll_waiter: asyncio.Future[None] | None = None
        self._polled = False  # a GET came: this client polls, so it will collect a close
        self._post_busy = False
        self._ws: WsConnection | None = None
        self._timer: Timer | None = None
        self._awaiting_pong = False

    def __repr__(self) -> str:
        return f"<EngineSession {self.sid} {self.transport}>"

    @property
    def closed(self) -> bool:
        return self.state != _OPEN

    # ------------------------------------------------------------------ sending

    def send(self, data: str | bytes) -> None:
        """Send one application message (text or binary)."""
        self.send_frames((eio.message_frame(data),))

    def send_frames(self, frames: Sequence[bytes]) -> None:
        """Queue pre-encoded frames (shared objects are fine: they are never mutated)."""
        if self.state != _OPEN:
            return
        ws = self._ws
        if ws is not None and self.transport is WEBSOCKET and not self._queue:
            for index, frame in enumerate(frames):
                if ws.paused:
                    self._enqueue(frames[index:])
                    return
                self._write_ws(ws, frame)
                if self.state != _OPEN:
                    return
            return
        self._enqueue(frames)

    def _enqueue(self, frames: Sequence[bytes]) -> None:
        if not frames:
            return
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        queue.extend(frames)
        self._queued_bytes += sum(len(f) for f in frames)
        server = self.server
        if len(queue) > server.max_queued_packets or self._queued_bytes > server.max_queued_bytes:
            log.warning(
                "engine session %s: send queue overflow (%d packets, %d bytes), closing",
                self.sid,
                len(queue),
                self._queued_bytes,
            )
            self._drop_queue()
            self.close("transport error", graceful=False)
            return
        if self.transport is POLLING:
            self._wake_poll()

    def _drop_queue(self) -> None:
        self._queue = None
        self._queued_bytes = 0

    def _wake_poll(self) -> None:
        waiter = self._poll_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _write_ws(self, ws: WsConnection, frame: bytes) -> None:
        try:
            ws.send(frame, _opcode(frame))
        except Exception as exc:  # connection reset / closing transport
            log.debug("engine session %s: websocket write failed: %r", self.sid, exc)
            self.close("transport error", graceful=False)

    def _flush_to_ws(self) -> None:
        queue = self._queue
        ws = self._ws
        while queue and ws is not None and not ws.paused and self.state == _OPEN:
            frame = queue.popleft()
            self._queued_bytes -= len(frame)
            self._write_ws(ws, frame)

    def _take_payload(self) -> bytes:
        """The next long-polling response body: up to MAX_PAYLOAD_PACKETS queued frames."""
        queue = self._queue
        if not queue:
            return eio.NOOP_FRAME
        if len(queue) <= MAX_PAYLOAD_PACKETS:
            self._drop_queue()
            return eio.encode_payload(queue)
        frames = [queue.popleft() for _ in range(MAX_PAYLOAD_PACKETS)]
        self._queued_bytes -= sum(len(f) for f in frames)
        return eio.encode_payload(frames)

    # ---------------------------------------------------------------- heartbeat

    def _schedule_ping(self) -> None:
        clock = self.server.clock
        self._awaiting_pong = False
        due = clock.time() + self.server.ping_interval
        self._timer = clock.call_at(due, self._on_ping_due, due)

    def _on_ping_due(self, due: float) -> None:
        # The deadline counts from when the ping was due, not from when the timer ran:
        # lateness must not accumulate, and _ping_overdue() relies on exact deadlines.
        self._awaiting_pong = True
        server = self.server
        self._timer = server.clock.call_at(due + server.ping_timeout, self._on_ping_timeout)
        self.send_frames((eio.PING_FRAME,))

    def _ping_overdue(self) -> bool:
        """True if the pong deadline passed but the timer has not run yet.

        Requests are checked against it so that "no pong within pingTimeout" holds
        exactly, whatever the event loop's timer granularity.
        """
        timer = self._timer
        return (
            self._awaiting_pong and timer is not None and timer.when() <= self.server.clock.time()
        )

    def _on_ping_timeout(self) -> None:
        self._timer = None
        self.close("ping timeout", graceful=False)

    def _on_pong(self) -> None:
        if self.state != _OPEN:
            return
        if self._timer is not None:
            self._timer.cancel()
        if self.state == _OPEN:
            self._schedule_ping()

    # ---------------------------------------------------------------- receiving

    def _on_packet(self, kind: str, data: str | bytes) -> None:
        if kind == eio.MESSAGE:
            self._deliver(data)
        elif kind == eio.PONG:
            self._on_pong()
        elif kind == eio.CLOSE:
            self._closed_by_client("transport close")
        elif kind == eio.PING:
            # v4 clients only ping during the upgrade probe, but answering is harmless.
            self.send_frames((b"3" + data.encode() if isinstance(data, str) else b"3",))
        elif kind == eio.NOOP or kind == eio.UPGRADE:
            pass
        else:  # OPEN is never valid from a client
            raise ProtocolError("unexpected packet type from client")

    def _on_text(self, text: str) -> None:
        try:
            kind, data = eio.decode_packet(text)
            self._on_packet(kind, data)
        except ProtocolError:
            self.close("parse error", graceful=False)

    def _deliver(self, data: str | bytes) -> None:
        if self.state != _OPEN:
            return
        try:
            self.server.on_message(self, data)
        except ProtocolError as exc:
            log.debug("engine session %s: protocol error: %s", self.sid, exc)
            self.close("parse error", graceful=False)
        except Exception:
            log.exception("engine session %s: message handler failed", self.sid)
            self.close("transport error", graceful=False)

    # ------------------------------------------------------------------ closing

    def close(self, reason: str = "forced close", *, graceful: bool = True) -> None:
        """Close the session.

        ``graceful`` (application-initiated) lets queued frames reach the client first and
        tells a polling client with a CLOSE packet; otherwise (errors, timeouts) the
        session is dropped at once, like the reference server does.
        """
        if self.state != _OPEN:
            return
        self._finish(reason)
        if self.transport is POLLING:
            self._enqueue_close()
            queue = self._queue
            assert queue is not None
            if graceful and (self._poll_waiter is None or len(queue) > MAX_PAYLOAD_PACKETS):
                # Keep the session until the client has collected everything up to "1"
                # (more than one response's worth takes more than the pending GET).
                self.state = _CLOSING
                self._timer = self.server.clock.call_later(_CLOSE_GRACE_SECONDS, self._finalize)
                self._wake_poll()
            else:
                if self._poll_waiter is None:
                    self._drop_queue()
                self._wake_poll()
                self._finalize()
        else:
            if not graceful:
                self._drop_queue()
            self._finalize()
        self._close_ws()

    def _enqueue_close(self) -> None:
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        queue.append(eio.CLOSE_FRAME)

    def _closed_by_client(self, reason: str) -> None:
        if self.state != _OPEN:
            return
        self._finish(reason)
        self._drop_queue()
        if self.transport is POLLING and self._poll_waiter is None:
            # The client's GET may still be in flight (it usually sends it together with
            # the CLOSE): keep the session briefly so that GET ends with a NOOP, not 400.
            self._timer = self.server.clock.call_later(_CLOSE_GRACE_SECONDS, self._finalize)
            return
        self._wake_poll()  # a pending GET ends with a NOOP, as the reference server does
        self._finalize()
        self._close_ws()

    def _finish(self, reason: str) -> None:
        """Common part of every close: stop timers, tell the layer above once."""
        self.state = _CLOSING
        self._awaiting_pong = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            self.server.on_close(self, reason)
        except Exception:
            log.exception("engine session %s: close handler failed", self.sid)

    def _finalize(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.state = _CLOSED
        self.server._forget(self)

    def _close_ws(self) -> None:
        """Close the websocket after what a graceful close left in the queue."""
        ws = self._ws
        if ws is None:
            return
        self._ws = None
        queue = self._queue
        if queue:
            self._drop_queue()
            # Bounded by the queue limits; the transport buffers what the peer has not read.
            with contextlib.suppress(Exception):
                for frame in queue:
                    ws.send(frame, _opcode(frame))
        ws.close()

    # ----------------------------------------------------------- websocket input

    def ws_text(self, ws: WsConnection, text: str) -> None:
        if self.state == _OPEN:
            self._on_text(text)

    def ws_binary(self, ws: WsConnection, data: bytes) -> None:
        self._deliver(data)

    def ws_resumed(self, ws: WsConnection) -> None:
        self._flush_to_ws()

    def ws_closed(self, ws: WsConnection, reason: str) -> None:
        if self._ws is ws:
            self._ws = None
            self._closed_by_client(reason)

    # ------------------------------------------------------------ HTTP handlers

    async def _handle_get(self, request: web.Request) -> web.StreamResponse:
        server = self.server
        self._polled = True
        if self._poll_waiter is not None:
            # A second concurrent GET is a client bug (or an attack): fail both, close.
            self.close("transport error", graceful=False)
            return server._error(request, BAD_REQUEST)
        if self.state == _OPEN and not self._queue and not self.upgrading:
            waiter = self._poll_waiter = server._loop.create_future()
            try:
                await waiter
            finally:
                self._poll_waiter = None
        if self.transport is not POLLING:
            body = eio.NOOP_FRAME  # upgraded meanwhile: the queue belongs to the websocket
        else:
            body = self._take_payload()
        if self.state == _CLOSING and not self._queue:
            self._finalize()  # the client has collected everything, CLOSE included
        return web.Response(
            body=body,
            content_type="text/plain",
            charset="UTF-8",
            headers=server._cors_headers(request),
        )

    async def _handle_post(self, request: web.Request) -> web.StreamResponse:
        server = self.server
        if self._post_busy:
            self.close("transport error", graceful=False)
            return server._error(request, BAD_REQUEST)
        limit = server.max_payload
        if request.content_length is not None and request.content_length > limit:
            self.close("transport error", graceful=False)
            return server._error(request, BAD_REQUEST, status=413)
        self._post_busy = True
        try:
            body = bytearray()
            async for chunk in request.content.iter_any():
                body += chunk
                if len(body) > limit:
                    self.close("transport error", graceful=False)
                    return server._error(request, BAD_REQUEST, status=413)
        finally:
            self._post_busy = False
        if self.state != _OPEN:
            return server._error(request, BAD_REQUEST)
        try:
            for kind, data in eio.decode_payload(body.decode()):
                if self.state != _OPEN:
                    break
                self._on_packet(kind, data)
        except (ProtocolError, UnicodeDecodeError):
            self.close("parse error", graceful=False)
            return server._error(request, BAD_REQUEST)
        return web.Response(
            text="ok", content_type="text/html", headers=server._cors_headers(request)
        )

    # --------------------------------------------------------------- websocket

    def _complete_upgrade(self, ws: WsConnection) -> None:
        self.transport = WEBSOCKET
        self.upgrading = False
        self._ws = ws
        ws.handler = self
        self._wake_poll()
        self._flush_to_ws()


class _Probe:
    """The websocket of a polling session's upgrade until the client sends "5".

    "2probe" is answered with "3probe"; anything else (or ``upgrade_timeout``) closes the
    websocket and leaves the polling session as it was.
    """

    __slots__ = ("session", "step", "timer")

    def __init__(self, session: EngineSession) -> None:
        self.session = session
        self.step = 0
        self.timer: Timer | None = None

    def _stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.session.upgrading = False

    def abort(self, ws: WsConnection) -> None:
        self._stop()
        ws.close()

    def ws_text(self, ws: WsConnection, text: str) -> None:
        session = self.session
        if session.state != _OPEN:
            self.abort(ws)
        elif self.step == 0 and text == "2probe":
            self.step = 1
            try:
                ws.send(eio.PROBE_PONG_FRAME)
            except ConnectionResetError:
                self.abort(ws)
                return
            # Release the pending GET so the client can pause polling.
            session._wake_poll()
        elif self.step == 1 and text == "5":
            self._stop()
            session._complete_upgrade(ws)
        else:
            self.abort(ws)

    def ws_binary(self, ws: WsConnection, data: bytes) -> None:
        self.abort(ws)

    def ws_resumed(self, ws: WsConnection) -> None:
        pass

    def ws_closed(self, ws: WsConnection, reason: str) -> None:
        self._stop()


class EngineServer:
    """Standalone Engine.IO v4 server; attach it to an aiohttp application.

    ``on_connect(session)``, ``on_message(session, data)`` and ``on_close(session, reason)``
    are synchronous callbacks: anything slow belongs in the layer above, which must not
    block the connection handler. ``on_message`` may raise ProtocolError to have the
    session closed with "parse error".
    """

    def __init__(
        self,
        *,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        max_payload: int = 1_000_000,
        cors_allow_origin: str | Sequence[str] | None = "*",
        on_connect: OnConnect | None = None,
        on_message: OnMessage | None = None,
        on_close: OnClose | None = None,
        allow_request: AllowRequest | None = None,
        transports: Iterable[str] = (POLLING, WEBSOCKET),
        upgrade_timeout: float = 10.0,
        max_queued_packets: int = DEFAULT_MAX_QUEUED_PACKETS,
        max_queued_bytes: int | None = None,
        router: Router | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.max_payload = max_payload
        self.cors_allow_origin = cors_allow_origin
        self.on_connect: OnConnect = on_connect or (lambda session: None)
        self.on_message: OnMessage = on_message or (lambda session, data: None)
        self.on_close: OnClose = on_close or (lambda session, reason: None)
        self.allow_request = allow_request
        self.transports = frozenset(transports)
        self.upgrade_timeout = upgrade_timeout
        self.max_queued_packets = max_queued_packets
        # Bytes bound defaults to a few max-size messages: one full message must fit.
        self.max_queued_bytes = (
            max_queued_bytes if max_queued_bytes is not None else max(4 * max_payload, 1 << 22)
        )
        #: Routes requests for sessions owned by other processes (None: single process).
        self.router = router
        #: Heartbeat, close-grace and upgrade timers run on this clock (tests drive it).
        self.clock: Clock = clock if clock is not None else LoopClock()
        self.sessions: dict[str, EngineSession] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._websockets = WsCounter()
        self._ws_flusher = WsFlusher()
        self._loop_: asyncio.AbstractEventLoop | None = None
        self._accepting = True
        self._no_sessions: asyncio.Future[None] | None = None

    @property
    def _loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop_
        if loop is None:
            loop = self._loop_ = asyncio.get_running_loop()
        return loop

    def attach(self, app: web.Application, path: str = "/engine.io/") -> None:
        """Serve the protocol at ``path`` (with and without the trailing slash)."""
        app.router.add_route("*", path, self.handle)
        stripped = path.rstrip("/")
        if stripped and stripped != path:
            app.router.add_route("*", stripped, self.handle)
        app.on_shutdown.append(self._on_app_shutdown)

    async def _on_app_shutdown(self, app: web.Application) -> None:
        await self.shutdown()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _forget(self, session: EngineSession) -> None:
        if self.sessions.get(session.sid) is session:
            del self.sessions[session.sid]
        waiter = self._no_sessions
        if not self.sessions and waiter is not None and not waiter.done():
            waiter.set_result(None)

    def stop_accepting(self) -> None:
        """Refuse new sessions and upgrades (503); open sessions carry on."""
        self._accepting = False

    # -------------------------------------------------------------- responses

    def _cors_headers(self, request: web.Request) -> dict[str, str] | None:
        allowed = self.cors_allow_origin
        if allowed is None:
            return None
        origin = request.headers.get("Origin")
        if origin is None:
            return None
        if allowed == "*":
            return {"Access-Control-Allow-Origin": "*"}
        if origin == allowed or (not isinstance(allowed, str) and origin in allowed):
            return {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Credentials": "true",
                "Vary": "Origin",
            }
        return None

    def _error(
        self, request: web.Request, error: tuple[int, str], status: int = 400
    ) -> web.Response:
        code, message = error
        return web.Response(
            status=status,
            body=orjson.dumps({"code": code, "message": message}),
            content_type="application/json",
            headers=self._cors_headers(request),
        )

    def _preflight(self, request: web.Request) -> web.Response:
        headers = self._cors_headers(request)
        if headers is None:
            return self._error(request, BAD_HANDSHAKE_METHOD)
        headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        headers["Access-Control-Allow-Headers"] = request.headers.get(
            "Access-Control-Request-Headers", "content-type"
        )
        headers["Access-Control-Max-Age"] = "86400"
        return web.Response(status=204, headers=headers)

    # --------------------------------------------------------------- routing

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The single aiohttp handler: validates the query then dispatches."""
        if request.method == "OPTIONS":
            return self._preflight(request)
        query = request.query
        transport = query.get("transport")
        if transport not in self.transports:
            return self._error(request, UNKNOWN_TRANSPORT)
        if query.get("EIO") != "4":
            return self._error(request, UNSUPPORTED_PROTOCOL_VERSION)
        sid = query.get("sid")
        router = self.router
        if router is not None and sid is not None and sid not in self.sessions:
            # Another process's session: its owner validates and answers the request.
            node = router.owner(sid)
            if node is not None:
                response = await router.forward(request, node, self)
                return response if response is not None else self._error(request, UNKNOWN_SID)
        if not self._accepting and (sid is None or transport == WEBSOCKET):
            # Draining: no new session and no upgrade, but the sessions still open keep
            # polling until they collect their last frames (see ``shutdown``).
            return self._error(request, SHUTTING_DOWN, status=503)
        if self.allow_request is not None:
            allowed = self.allow_request(request)
            if not isinstance(allowed, bool):
                allowed = await allowed
            if not allowed:
                return self._error(request, FORBIDDEN, status=403)
        is_ws = transport == WEBSOCKET
        if sid is None:
            if is_ws:
                if request.method != "GET" or not _is_ws_upgrade(request):
                    return self._error(request, BAD_REQUEST)
                return await self._open_websocket(request)
            if request.method != "GET":
                return self._error(request, BAD_HANDSHAKE_METHOD)
            return self._open_polling(request)
        session = self.sessions.get(sid)
        if session is None:
            return self._error(request, UNKNOWN_SID)
        if is_ws:
            if request.method != "GET" or not _is_ws_upgrade(request):
                return self._error(request, BAD_REQUEST)
            if session.transport is not POLLING or session.upgrading or session.state != _OPEN:
                # Like the reference server: complete the websocket handshake, then close
                # it. The established session is left untouched.
                ws = self._websocket()
                try:
                    await ws.prepare(request)
                    await ws.close()
                except ConnectionResetError:
                    return _client_gone()
                return ws
            return await self._upgrade(request, session)
        if session.transport is not POLLING:
            return self._error(request, BAD_REQUEST)
        if session._ping_overdue():
            session._on_ping_timeout()
            return self._error(request, UNKNOWN_SID)
        if request.method == "GET":
            return await session._handle_get(request)
        if request.method == "POST":
            return await session._handle_post(request)
        return self._error(request, BAD_REQUEST)

    # ------------------------------------------------------------- sessions

    def _new_session(self, request: web.Request, transport: str) -> EngineSession:
        router = self.router
        sid = router.new_sid(request) if router is not None else secrets.token_urlsafe(15)
        session = EngineSession(self, sid, transport, Handshake(request))
        self.sessions[sid] = session
        return session

    def _open_frame(self, session: EngineSession, upgrades: list[str]) -> bytes:
        return b"0" + orjson.dumps(
            {
                "sid": session.sid,
                "upgrades": upgrades,
                "pingInterval": round(self.ping_interval * 1000),
                "pingTimeout": round(self.ping_timeout * 1000),
                "maxPayload": self.max_payload,
            }
        )

    def _start(self, session: EngineSession) -> None:
        session._schedule_ping()
        try:
            self.on_connect(session)
        except Exception:
            log.exception("engine session %s: connect handler failed", session.sid)
            session.close("transport error", graceful=False)

    def _open_polling(self, request: web.Request) -> web.Response:
        session = self._new_session(request, POLLING)
        upgrades = [WEBSOCKET] if WEBSOCKET in self.transports else []
        session._enqueue((self._open_frame(session, upgrades),))
        self._start(session)
        return web.Response(
            body=session._take_payload(),
            content_type="text/plain",
            charset="UTF-8",
            headers=self._cors_headers(request),
        )

    def _websocket(self) -> web.WebSocketResponse:
        # Used for the handshake (then detached, see .ws) and for refused / relayed sockets.
        # No permessage-deflate: a zlib context per connection costs ~100+ KiB of RAM and
        # CPU on every frame; the reference server also ships with compression off.
        return web.WebSocketResponse(
            compress=False,
            # aiohttp rejects messages >= max_msg_size; maxPayload itself must be allowed.
            max_msg_size=self.max_payload + 1,
            autoping=True,
            timeout=_WS_CLOSE_TIMEOUT,
        )

    def _detach(self, request: web.Request) -> WsConnection:
        return detach(
            request,
            None,
            max_size=self.max_payload,
            close_timeout=_WS_CLOSE_TIMEOUT,
            counter=self._websockets,
            flusher=self._ws_flusher,
        )

    async def _accept_websocket(self, request: web.Request) -> WsConnection | None:
        """Answer the upgrade and take the connection over; None if the client left."""
        answer = upgrade_response(request)
        try:
            if answer is not None:
                transport = request.transport
                if transport is None or transport.is_closing():
                    raise ConnectionResetError("connection closed before the upgrade")
                transport.write(answer)
            else:  # refused by aiohttp, or a subprotocol to negotiate
                await self._websocket().prepare(request)
            # No await from here on: the connection leaves aiohttp before any frame arrives.
            return self._detach(request)
        except ConnectionResetError:
            # A page closed while its upgrade was answered: the client's choice, not an error.
            log.info("websocket upgrade from %s: the client went away", request.remote)
            return None

    async def _open_websocket(self, request: web.Request) -> web.StreamResponse:
        conn = await self._accept_websocket(request)
        if conn is None:
            return _client_gone()
        session = self._new_session(request, WEBSOCKET)
        session._ws = conn
        conn.handler = session
        session.send_frames((self._open_frame(session, []),))
        self._start(session)
        return detached_response()

    async def _upgrade(self, request: web.Request, session: EngineSession) -> web.StreamResponse:
        conn = await self._accept_websocket(request)
        if conn is None:
            return _client_gone()
        if session.transport is not POLLING or session.upgrading or session.state != _OPEN:
            conn.close()  # the session changed during the handshake
            return detached_response()
        probe = _Probe(session)
        conn.handler = probe
        session.upgrading = True
        probe.timer = self.clock.call_later(self.upgrade_timeout, probe.abort, conn)
        return detached_response()

    async def shutdown(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Close every session gracefully and wait (bounded) for the clients to see it.

        A session's queued frames leave before its close: on a websocket they are
        written ahead of the close frame; a polling session keeps them, with the CLOSE
        packet, for the client's next GET, and is dropped when ``timeout`` ends first.
        """
        loop = self._loop
        deadline = loop.time() + timeout
        self._accepting = False
        for session in list(self.sessions.values()):
            session.close("server shutting down", graceful=True)
            if not session._polled:  # never polled: nobody will come for the last frames
                session._wake_poll()
                session._finalize()
        if self.sessions:
            self._no_sessions = loop.create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._no_sessions, max(0.0, deadline - loop.time()))
            self._no_sessions = None
        for session in list(self.sessions.values()):
            session._wake_poll()
            session._finalize()
        tasks = [t for t in self._tasks if not t.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=max(0.01, deadline - loop.time()))
        # Websockets close without tasks: wait for their close handshakes instead.
        await self._websockets.wait_closed(max(0.01, deadline - loop.time()))


def _client_gone() -> web.Response:
    """What a handler returns when its client disconnected: never sent, but the access
    log records nginx's "client closed request" (499) rather than a server error."""
    return web.Response(status=499)


def _is_ws_upgrade(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"
