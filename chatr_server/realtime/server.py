"""Socket.IO v5 server on top of :mod:`engine`: namespaces, sockets, events, acks, rooms.

Ordering model: each :class:`Socket` runs its handlers strictly in arrival order. Jobs go
into a per-socket deque drained by a task that only exists while jobs are pending, so an
idle socket costs no task, and a slow handler only delays its own socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from typing import Any, Final

from aiohttp import web

from chatr_server.util.clock import Timer

from . import sio_protocol as sio
from .adapter import AdapterFactory, InProcessAdapter
from .engine import EngineServer, EngineSession, Handshake
from .errors import ConnectionRefused, ProtocolError
from .recovery import Recovery, SessionRecord, new_pid

log = logging.getLogger("chatr_server.realtime")

ConnectHook = Callable[["Socket", Any], "Awaitable[None] | None"]
ConnectedHook = Callable[["Socket"], "Awaitable[None] | None"]
DisconnectHook = Callable[["Socket", str], "Awaitable[None] | None"]
EventHandler = Callable[..., Any]

# Default bound on events queued behind a busy handler, per socket. A client that keeps
# sending while its handlers cannot keep up is disconnected instead of growing memory.
DEFAULT_MAX_PENDING_EVENTS: Final = 1000
# Reference server default: an Engine.IO connection that never joins a namespace is closed.
DEFAULT_CONNECT_TIMEOUT: Final = 45.0
DEFAULT_SUBSCRIBE_WAIT: Final = 2.0

_CONNECTING: Final = 0
_CONNECTED: Final = 1
_DISCONNECTED: Final = 2

# Job kinds in a socket's queue.
_JOB_CONNECT: Final = 0
_JOB_EVENT: Final = 1
_JOB_DISCONNECT: Final = 2


class Socket:
    """A client's connection to one namespace."""

    __slots__ = (
        "_acks",
        "_buffer",
        "_jobs",
        "_next_ack",
        "_record",
        "_runner",
        "_skip",
        "_state",
        "client",
        "data",
        "id",
        "namespace",
        "owner",
        "pid",
        "recovered",
    )

    def __init__(self, namespace: Namespace, client: _Client, sid: str) -> None:
        self.namespace = namespace
        self.client = client
        self.id = sid
        #: Free-form application state (user id, ...).
        self.data: dict[str, Any] = {}
        self._state = _CONNECTING
        self._jobs: deque[tuple[int, Any, Any]] | None = None
        self._runner: asyncio.Task[None] | None = None
        self._acks: dict[int, asyncio.Future[list[Any]]] | None = None
        self._next_ack = 0
        # Frames sent before the CONNECT reply, with their recovery origin.
        self._buffer: list[tuple[Sequence[bytes], tuple[str, int] | None]] | None = None
        #: Recovery: who the session belongs to, set by the connect hook (e.g. the user
        #: id). A session is only restored for the same owner; None = not recoverable.
        self.owner: str | None = None
        #: Recovery: the private session id sent in the CONNECT reply (None: recovery off).
        self.pid: str | None = None
        #: True when this connection restored an earlier session (sid, rooms, missed events).
        self.recovered = False
        self._record: SessionRecord | None = None
        # After a restore: per emitter, the last replayed seq, so that the same events
        # arriving live (this process lagging behind the store) are not sent twice.
        self._skip: dict[str, int] | None = None

    def __repr__(self) -> str:
        return f"<Socket {self.namespace.name} {self.id}>"

    @property
    def sid(self) -> str:
        return self.id

    @property
    def handshake(self) -> Handshake:
        return self.client.engine.handshake

    @property
    def connected(self) -> bool:
        return self._state == _CONNECTED

    @property
    def rooms(self) -> set[str]:
        return self.namespace.adapter.socket_rooms(self.id)

    # ------------------------------------------------------------------ rooms

    def join(self, room: str) -> None:
        if self._state != _DISCONNECTED:
            self.namespace.adapter.add_all(self.id, (room,))
            if self._record is not None:
                self._rooms_changed()

    def leave(self, room: str) -> None:
        self.namespace.adapter.delete(self.id, room)
        if self._record is not None:
            self._rooms_changed()

    def _rooms_changed(self) -> None:
        recovery = self.namespace.server.recovery
        if recovery is not None and self._record is not None:
            recovery.rooms_changed(self._record, self.rooms)

    # ------------------------------------------------------------------ output

    def _send(self, frames: Sequence[bytes], origin: tuple[str, int] | None = None) -> None:
        state = self._state
        if state == _CONNECTED:
            if self._skip is not None and origin is not None and self._replayed(origin):
                return
            self.client.engine.send_frames(frames)
        elif state == _CONNECTING:
            if self._buffer is None:
                self._buffer = []
            self._buffer.append((frames, origin))

    def _replayed(self, origin: tuple[str, int]) -> bool:
        """Whether a live event was already sent by the restore (see ``_skip``)."""
        skip = self._skip
        assert skip is not None
        emitter, seq = origin
        top = skip.get(emitter)
        if top is None:
            return False
        if seq >= top:
            del skip[emitter]  # this process has caught up with that emitter
            if not skip:
                self._skip = None
        return seq <= top

    def emit(self, event: str, *args: Any) -> None:
        """Send an event to this client. Never blocks; bytes become binary attachments."""
        if event in sio.RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        if self._state == _DISCONNECTED:
            return
        frames = sio.encode_event(self.namespace.name, event, args)
        recovery = self.namespace.server.recovery
        if recovery is not None and self.pid is not None:
            # Logged in this socket's own room, as any emit, so it can be replayed.
            origin = recovery.stamp(self.namespace.name, frames, (self.id,), _NO_NAMES)
            self._send(recovery.deliverable(origin, frames), origin)
            return
        self._send(frames)

    async def call(
        self,
        event: str,
        *args: Any,
        timeout: float = 5.0,  # noqa: ASYNC109 - the API contract names it `timeout`
    ) -> list[Any]:
        """Emit and wait for the client's acknowledgement; returns its arguments.

        Raises TimeoutError after ``timeout`` seconds and ConnectionError if the socket
        disconnects first.
        """
        if event in sio.RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        if self._state == _DISCONNECTED:
            raise ConnectionError("socket is disconnected")
        ack_id = self._next_ack
        self._next_ack += 1
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        if self._acks is None:
            self._acks = {}
        self._acks[ack_id] = future
        try:
            self._send(sio.encode_event(self.namespace.name, event, args, ack_id))
            return await asyncio.wait_for(future, timeout)
        finally:
            if self._acks is not None:
                self._acks.pop(ack_id, None)

    def disconnect(self, close: bool = False) -> None:
        """Server-side disconnect from this namespace (``close``: the whole connection)."""
        if close:
            self.client.disconnect_all()
            return
        if self._state == _CONNECTED:
            self.client.engine.send_frames(sio.encode(sio.DISCONNECT, self.namespace.name))
        self._on_close("server namespace disconnect")

    # ------------------------------------------------------------------ input

    def _push(self, kind: int, a: Any = None, b: Any = None) -> None:
        jobs = self._jobs
        if jobs is None:
            jobs = self._jobs = deque()
        elif len(jobs) >= self.namespace.server.max_pending_events:
            log.warning("socket %s: %d events pending, disconnecting", self.id, len(jobs))
            self.client.engine.close("transport error", graceful=False)
            return
        jobs.append((kind, a, b))
        if self._runner is None:
            self._runner = self.namespace.server._spawn(self._drain())

    async def _drain(self) -> None:
        jobs = self._jobs
        try:
            while jobs:
                kind, a, b = jobs.popleft()
                if kind == _JOB_EVENT:
                    await self._run_event(a, b)
                elif kind == _JOB_CONNECT:
                    await self._run_connect(a)
                else:
                    await self._run_disconnect(a)
        finally:
            self._runner = None
            if not jobs or self._state == _DISCONNECTED:
                self._jobs = None  # an idle socket keeps no deque (~700 B)

    def _on_event(self, data: list[Any], ack_id: int | None) -> None:
        if self._state == _DISCONNECTED:
            return
        ns = self.namespace
        received = ns.received
        if data[0] in received:
            received[data[0]] += 1
        else:
            ns.unknown_events += 1
        if self._runner is None and self._state == _CONNECTED:
            # Idle socket and a plain-function handler: run inline, no task needed.
            handler = self.namespace._sync_handlers.get(data[0])
            if handler is not None:
                try:
                    result = handler(self, *data[1:])
                except Exception:
                    log.exception("socket %s: handler for %r failed", self.id, data[0])
                    return
                if inspect.isawaitable(result):
                    self._push(_JOB_EVENT, (data[0], result), ack_id)
                elif ack_id is not None:
                    self._send_ack(ack_id, result)
                return
        self._push(_JOB_EVENT, data, ack_id)

    async def _run_event(self, data: Any, ack_id: int | None) -> None:
        if type(data) is tuple:  # (event, awaitable) from a sync handler returning one
            event, result = data
        else:
            event = data[0]
            ns = self.namespace
            handler = ns._handlers.get(event)
            if handler is not None:
                result = handler(self, *data[1:])
            elif ns._on_unknown is not None:
                result = ns._on_unknown(self, event, *data[1:])
            else:
                return
        try:
            if inspect.isawaitable(result):
                result = await result
        except Exception:
            log.exception("socket %s: handler for %r failed", self.id, event)
            return
        if ack_id is not None:
            self._send_ack(ack_id, result)

    def _send_ack(self, ack_id: int, result: Any) -> None:
        if result is None:
            args: list[Any] = []
        elif type(result) is tuple:
            args = list(result)
        else:
            args = [result]
        try:
            frames = sio.encode(sio.ACK, self.namespace.name, args, ack_id)
        except TypeError:
            log.exception("socket %s: ack value is not serialisable", self.id)
            return
        self._send(frames)

    def _on_ack(self, ack_id: int, args: list[Any]) -> None:
        acks = self._acks
        if acks is None:
            return
        future = acks.pop(ack_id, None)
        if future is not None and not future.done():
            future.set_result(args)

    async def synced(self) -> None:
        """Until broadcasts to the rooms joined so far reach this process from the other
        processes (a multi-process adapter subscribes asynchronously; bounded by the
        server's ``subscribe_wait``). Await it before acknowledging a join to the client."""
        pending = self.namespace.adapter.subscribed()
        if pending is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.shield(pending), self.namespace.server.subscribe_wait
                )

    async def _run_connect(self, auth: Any) -> None:
        ns = self.namespace
        try:
            if ns._on_connect is not None:
                result = ns._on_connect(self, auth)
                if inspect.isawaitable(result):
                    await result
        except ConnectionRefused as exc:
            self._refuse(exc.error_payload())
            return
        except Exception:
            log.exception("socket %s: connect handler failed", self.id)
            self._refuse({"message": "Internal server error"})
            return
        if self._state != _CONNECTING:
            return  # the transport closed while the hook ran
        recovery = ns.server.recovery
        replay: list[tuple[tuple[str, int], list[bytes]]] | None = None
        if recovery is not None and self.owner is not None:
            if type(auth) is dict:
                pid, offset = auth.get("pid"), auth.get("offset")
                if type(pid) is str and type(offset) is str:
                    replay = await self._restore(recovery, pid, offset)
                    if self._state != _CONNECTING:
                        return
            if replay is None:
                self.pid = new_pid()
        # Reply once the rooms the hook joined receive the other processes' fan-out, so
        # the client misses nothing sent after it saw the reply.
        await self.synced()
        if self._state != _CONNECTING:
            return
        self._state = _CONNECTED
        ns.sockets[self.id] = self
        ns.adapter.add_all(self.id, (self.id,))
        client = self.client
        client.connected()
        engine = client.engine
        if replay:
            # As the reference server: missed events first; the client holds them until
            # the CONNECT reply and delivers them with ``recovered`` already true.
            for _origin, frames in replay:
                engine.send_frames(frames)
        reply = {"sid": self.id} if self.pid is None else {"sid": self.id, "pid": self.pid}
        engine.send_frames(sio.encode(sio.CONNECT, ns.name, reply))
        buffered = self._buffer
        if buffered is not None:
            self._buffer = None
            for frames, origin in buffered:
                if self._skip is not None and origin is not None and self._replayed(origin):
                    continue
                engine.send_frames(frames)
        if recovery is not None and self.pid is not None and self.owner is not None:
            self._record = SessionRecord(self.pid, self.id, ns.name, self.owner, sorted(self.rooms))
            recovery.opened(self._record)
        if ns._on_connected is not None:
            # Let the CONNECT reply leave in its own write cycle before the hook emits
            # (the reference server's websocket transport also holds later packets until
            # the previous write completed). See ``connect_reply_gap``.
            await asyncio.sleep(ns.server.connect_reply_gap)
            try:
                result = ns._on_connected(self)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("socket %s: connected handler failed", self.id)

    async def _restore(
        self, recovery: Recovery, pid: str, offset: str
    ) -> list[tuple[tuple[str, int], list[bytes]]] | None:
        """Take over session ``pid`` if its owner is this socket's; its missed events.

        The old sid and rooms are taken before the missed events are read, so events
        emitted meanwhile are buffered (and the ones also read from the store skipped).
        None (and nothing taken) when the session is unknown, expired, someone else's,
        or missed too many events: the socket then connects as a new session.
        """
        ns = self.namespace
        assert self.owner is not None
        try:
            found = await recovery.find(ns.name, pid, offset, self.owner)
        except Exception as exc:
            log.warning("socket %s: session lookup failed (%r)", self.id, exc)
            return None
        if found is None or self._state != _CONNECTING:
            return None
        sid = found.record.sid
        old = ns.sockets.get(sid)
        if old is not None:
            # The client came back before its old transport was noticed closed.
            old._on_close("transport close")
        if sid in ns.sockets:
            return None
        fresh_sid = self.id
        self.id = sid
        ns.sockets[sid] = self
        ns.adapter.add_all(sid, (sid, *found.record.rooms))
        try:
            replay = await recovery.missed(found)
        except Exception as exc:
            log.warning("socket %s: reading missed events failed (%r)", sid, exc)
            replay = None
        if self._state != _CONNECTING:
            return None  # closed meanwhile; _on_close left the rooms
        if replay is None:
            del ns.sockets[sid]
            ns.adapter.delete_all(sid)
            self.id = fresh_sid
            self._buffer = None
            return None
        self.pid = pid
        self.recovered = True
        if replay:
            skip: dict[str, int] = {}
            for (emitter, seq), _frames in replay:
                if skip.get(emitter, 0) < seq:
                    skip[emitter] = seq
            self._skip = skip
        return replay

    def _refuse(self, payload: dict[str, Any]) -> None:
        if self._state != _CONNECTING:
            return
        self._state = _DISCONNECTED
        self._buffer = None
        self.namespace.adapter.delete_all(self.id)
        self.client.forget(self)
        self.client.engine.send_frames(sio.encode(sio.CONNECT_ERROR, self.namespace.name, payload))

    async def _run_disconnect(self, reason: str) -> None:
        hook = self.namespace._on_disconnect
        if hook is None:
            return
        try:
            result = hook(self, reason)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("socket %s: disconnect handler failed", self.id)

    def _on_close(self, reason: str) -> None:
        """Leave everything now; the disconnect hook runs after already-queued events."""
        state = self._state
        if state == _DISCONNECTED:
            return
        self._state = _DISCONNECTED
        self._buffer = None
        ns = self.namespace
        if ns.sockets.get(self.id) is self:
            del ns.sockets[self.id]
        ns.adapter.delete_all(self.id)
        self.client.forget(self)
        record = self._record
        if record is not None:
            self._record = None
            recovery = ns.server.recovery
            if recovery is not None:
                recovery.closed(record, reason)
        acks = self._acks
        if acks:
            self._acks = None
            for future in acks.values():
                if not future.done():
                    future.set_exception(ConnectionError("socket disconnected"))
        if state == _CONNECTED and ns._on_disconnect is not None:
            self._push(_JOB_DISCONNECT, reason)
        elif self._runner is None:
            self._jobs = None


class Namespace:
    """A Socket.IO namespace: handlers, connected sockets and its adapter."""

    def __init__(self, server: SocketServer, name: str) -> None:
        self.server = server
        self.name = name
        self.sockets: dict[str, Socket] = {}
        self.adapter = server._adapter_factory(self)
        self._handlers: dict[str, EventHandler] = {}
        # The handlers that are plain functions (decided once, at registration):
        # those run inline on an idle socket, without a task.
        self._sync_handlers: dict[str, EventHandler] = {}
        self._on_connect: ConnectHook | None = None
        self._on_connected: ConnectedHook | None = None
        self._on_disconnect: DisconnectHook | None = None
        self._on_unknown: EventHandler | None = None
        #: Events received, by name of a registered handler, and the others (for
        #: metrics: plain integers, so counting costs the hot path next to nothing).
        self.received: dict[str, int] = {}
        self.unknown_events = 0

    def __repr__(self) -> str:
        return f"<Namespace {self.name} ({len(self.sockets)} sockets)>"

    # ------------------------------------------------------------ registration

    def on(self, event: str, handler: EventHandler | None = None) -> Any:
        """Register ``handler(sock, *args)`` for ``event`` (usable as a decorator)."""
        if event in sio.RESERVED_EVENTS:
            raise ValueError(f"{event!r} is reserved: use on_connect/on_disconnect")

        def register(fn: EventHandler) -> EventHandler:
            self._handlers[event] = fn
            self.received.setdefault(event, 0)
            if inspect.iscoroutinefunction(fn):
                self._sync_handlers.pop(event, None)
            else:
                self._sync_handlers[event] = fn
            return fn

        return register(handler) if handler is not None else register

    @property
    def handlers(self) -> dict[str, EventHandler]:
        """The registered event handlers by event name (a copy)."""
        return dict(self._handlers)

    def on_connect(self, fn: ConnectHook) -> ConnectHook:
        """``fn(sock, auth)`` runs before the CONNECT reply; raise ConnectionRefused to refuse."""
        self._on_connect = fn
        return fn

    def on_connected(self, fn: ConnectedHook) -> ConnectedHook:
        """``fn(sock)`` runs right after the CONNECT reply was queued."""
        self._on_connected = fn
        return fn

    def on_disconnect(self, fn: DisconnectHook) -> DisconnectHook:
        """``fn(sock, reason)``; runs after the socket's already-received events."""
        self._on_disconnect = fn
        return fn

    def on_unknown(self, fn: EventHandler) -> EventHandler:
        """``fn(sock, event, *args)`` for events without a handler."""
        self._on_unknown = fn
        return fn

    # --------------------------------------------------------------- fan-out

    def emit(
        self,
        event: str,
        *args: Any,
        to: str | Iterable[str] | None = None,
        skip_sid: str | Iterable[str] | None = None,
        except_rooms: str | Iterable[str] | None = None,
    ) -> None:
        """Broadcast to everyone, or to the members of ``to`` (room name(s)); encoded once."""
        if event in sio.RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        frames = sio.encode_event(self.name, event, args)
        rooms, except_names, except_sids = _names(to), _names(except_rooms), _names(skip_sid)
        recovery = self.server.recovery
        if recovery is None:
            self.adapter.broadcast(frames, rooms, except_names, except_sids)
            return
        excluded = (
            frozenset((*except_names, *except_sids)) if except_names or except_sids else _NO_NAMES
        )
        origin = recovery.stamp(self.name, frames, rooms, excluded)
        self.adapter.broadcast(frames, rooms, except_names, except_sids, origin)

    def sockets_leave(self, to: str | Iterable[str], room: str | Iterable[str]) -> None:
        """Make every socket in ``to`` (room name(s)) leave ``room``, on every process."""
        self.adapter.sockets_leave(_names(to), _names(room))

    def disconnect_sockets(self, to: str | Iterable[str]) -> None:
        """Close the connection of every socket in ``to`` (room name(s)), on every process."""
        self.adapter.disconnect_sockets(_names(to))

    def sockets_in(self, room: str) -> set[str]:
        return self.adapter.sockets((room,))

    def get_socket(self, sid: str) -> Socket | None:
        return self.sockets.get(sid)

    def room_size(self, room: str) -> int:
        return self.adapter.room_size(room)


_NO_NAMES: frozenset[str] = frozenset()


def _names(value: str | Iterable[str] | None) -> Collection[str]:
    if value is None:
        return _NO_NAMES
    if type(value) is str:
        return (value,)
    return frozenset(value)


class _Client:
    """Socket.IO state of one Engine.IO session: its namespace sockets and decoder."""

    __slots__ = ("_timer", "decoder", "engine", "server", "sockets")

    def __init__(self, server: SocketServer, engine: EngineSession) -> None:
        self.server = server
        self.engine = engine
        self.sockets: dict[str, Socket] = {}
        self.decoder = sio.Decoder(server.max_attachments)
        self._timer: Timer | None = server.engine.clock.call_later(
            server.connect_timeout, self._connect_timed_out
        )

    def _connect_timed_out(self) -> None:
        self._timer = None
        if not self.sockets:
            self.engine.close("forced close")

    def connected(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def forget(self, sock: Socket) -> None:
        if self.sockets.get(sock.namespace.name) is sock:
            del self.sockets[sock.namespace.name]

    def disconnect_all(self) -> None:
        for sock in list(self.sockets.values()):
            sock.disconnect()
        self.engine.close("forced close")

    def on_packet(self, packet: sio.Packet) -> None:
        ptype = packet.type
        if self.server._draining and (
            ptype == sio.EVENT or ptype == sio.BINARY_EVENT or ptype == sio.CONNECT
        ):
            return  # draining: never answered, so the client re-sends after reconnecting
        if ptype == sio.EVENT or ptype == sio.BINARY_EVENT:
            sock = self.sockets.get(packet.namespace)
            if sock is not None:
                sock._on_event(packet.data, packet.id)
        elif ptype == sio.ACK or ptype == sio.BINARY_ACK:
            sock = self.sockets.get(packet.namespace)
            if sock is not None and packet.id is not None:
                sock._on_ack(packet.id, packet.data)
        elif ptype == sio.CONNECT:
            self._connect(packet.namespace, None if packet.data is sio.ABSENT else packet.data)
        elif ptype == sio.DISCONNECT:
            sock = self.sockets.get(packet.namespace)
            if sock is not None:
                sock._on_close("client namespace disconnect")
        else:
            raise ProtocolError("CONNECT_ERROR is not valid from a client")

    def _connect(self, name: str, auth: Any) -> None:
        ns = self.server.namespaces.get(name)
        if ns is None:
            self.engine.send_frames(
                sio.encode(sio.CONNECT_ERROR, name, {"message": "Invalid namespace"})
            )
            return
        if name in self.sockets:
            return  # already connected (or connecting): ignore the duplicate
        sock = Socket(ns, self, self.server._new_sid())
        self.sockets[name] = sock
        sock._push(_JOB_CONNECT, auth)

    def on_close(self, reason: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for sock in list(self.sockets.values()):
            sock._on_close(reason)


class SocketServer:
    """Socket.IO v5 server. See the package docstring for the API overview."""

    def __init__(
        self,
        *,
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        max_payload: int = 1_000_000,
        adapter: AdapterFactory | None = None,
        cors_allow_origin: str | Sequence[str] | None = "*",
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        max_pending_events: int = DEFAULT_MAX_PENDING_EVENTS,
        max_attachments: int = sio.DEFAULT_MAX_ATTACHMENTS,
        connect_reply_gap: float = 0.0,
        recovery: Recovery | None = None,
        **engine_options: Any,
    ) -> None:
        """Create the server; ``engine_options`` go to :class:`EngineServer`.

        ``connect_reply_gap`` (seconds) delays ``on_connected`` after the CONNECT reply.
        Real clients do not need it; the protocol test suite's raw-websocket helper drops
        a second frame that arrives in the same TCP read as the first, so the conformance
        server sets a couple of milliseconds.

        ``recovery`` turns on connection-state recovery (:mod:`recovery`) for every
        namespace; sockets whose connect hook sets ``sock.owner`` become recoverable.
        """
        self.engine = EngineServer(
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            max_payload=max_payload,
            cors_allow_origin=cors_allow_origin,
            on_connect=self._on_engine_connect,
            on_message=self._on_engine_message,
            on_close=self._on_engine_close,
            **engine_options,
        )
        self._adapter_factory: AdapterFactory = adapter or InProcessAdapter
        self.connect_timeout = connect_timeout
        self.max_pending_events = max_pending_events
        self.max_attachments = max_attachments
        self.connect_reply_gap = connect_reply_gap
        #: How long a CONNECT reply waits for the adapter's subscriptions (Redis slow or
        #: down: the socket connects anyway, fan-out catches up when Redis answers).
        self.subscribe_wait = DEFAULT_SUBSCRIBE_WAIT
        self.recovery = recovery
        self.namespaces: dict[str, Namespace] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pending_work: list[Callable[[], Awaitable[None]]] = []
        self._closed = False
        self._draining = False

    def of(self, name: str = "/") -> Namespace:
        """Get or create a namespace; clients can only connect to created namespaces."""
        if not name.startswith("/"):
            name = "/" + name
        ns = self.namespaces.get(name)
        if ns is None:
            ns = self.namespaces[name] = Namespace(self, name)
        return ns

    def on_pending_work(self, wait: Callable[[], Awaitable[None]]) -> None:
        """Register ``wait()``, which returns once work that handlers handed elsewhere
        (and that still answers sockets) is done: a handler that returned at once and
        answers from a callback later. Draining and :meth:`wait_idle` await it after
        the sockets' own tasks."""
        self._pending_work.append(wait)

    def attach(self, app: web.Application, path: str = "/socket.io/") -> None:
        """Register the GET/POST/OPTIONS/websocket routes at ``path`` on ``app``."""
        self.engine.attach(app, path)
        app.on_shutdown.insert(0, self._on_app_shutdown)

    async def _on_app_shutdown(self, app: web.Application) -> None:
        await self.shutdown()

    async def shutdown(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Drain, then close every connection so that clients reconnect (elsewhere).

        1. No new session or upgrade; events that arrive from now on are dropped, not
           run (their sender gets no answer, so it sends them again after reconnecting).
        2. Each socket finishes the events it already received, so their answers
           (acks and whatever the handlers emit) are written to the still-open
           connection.
        3. Engine.IO sessions close: queued frames first, then the transport close. No
           Socket.IO DISCONNECT packet, which would stop official clients reconnecting.
        4. Disconnect hooks run; the adapters close. All of it within ``timeout``.
        """
        if self._closed:
            return
        self._closed = True
        self._draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.engine.stop_accepting()
        await self._settle(deadline)
        await self.engine.shutdown(max(0.0, deadline - loop.time()) * 0.8)
        await self._settle(deadline)
        for ns in self.namespaces.values():
            await ns.adapter.close()
        if self.recovery is not None:
            await self.recovery.close()

    async def wait_idle(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until no socket has handler work left; False if ``timeout`` ran out first.

        A barrier for tests: after a client disconnects, its disconnect hook has run (and
        emitted what it emits) once this returns True."""
        loop = asyncio.get_running_loop()
        await self._settle(loop.time() + timeout)
        return all(t.done() for t in self._tasks)

    async def _settle(self, deadline: float) -> None:
        """Wait until no socket has handler work left (or ``deadline``, loop time): their
        tasks, then the pending work registered with :meth:`on_pending_work`."""
        loop = asyncio.get_running_loop()
        while True:
            tasks = [t for t in self._tasks if not t.done()]
            left = deadline - loop.time()
            if not tasks or left <= 0:
                break
            await asyncio.wait(tasks, timeout=left)
        for wait in self._pending_work:
            left = deadline - loop.time()
            if left <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wait(), left)

    # ---------------------------------------------------------------- internals

    def _new_sid(self) -> str:
        # Socket.IO v5 requires the socket id to differ from the Engine.IO session id
        # (the latter is a credential for the polling transport).
        return secrets.token_urlsafe(15)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        # The engine's cached loop: asyncio.get_running_loop() costs a getpid()
        # system call per call on Python 3.11, and this runs once per event.
        task = self.engine._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _on_engine_connect(self, session: EngineSession) -> None:
        session.ctx = _Client(self, session)

    def _on_engine_message(self, session: EngineSession, data: str | bytes) -> None:
        client: _Client = session.ctx
        if type(data) is str:
            packet = client.decoder.feed_text(data)
        else:
            packet = client.decoder.feed_binary(data)  # type: ignore[arg-type]
        if packet is not None:
            client.on_packet(packet)

    def _on_engine_close(self, session: EngineSession, reason: str) -> None:
        client: _Client | None = session.ctx
        if client is not None:
            client.on_close(reason)
