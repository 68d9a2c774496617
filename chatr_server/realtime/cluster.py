"""Route Engine.IO requests to the process that owns the session.

A long-polling session lives in one process, but its requests may arrive anywhere: the
kernel spreads the connections of ``serve --workers N`` (SO_REUSEPORT) over the workers,
and a load balancer without sticky sessions spreads them over the nodes. So every
session id starts with the owning process's node id (``TAG_LENGTH`` characters), each
process advertises an internal URL in Redis under that id, and a process that gets a
request for someone else's session forwards it there:

* polling GET/POST: re-issued over a pooled HTTP connection, answer copied back;
* websocket (the upgrade of a polling session) between workers of one machine: the TCP
  connection itself is handed over to the owner (``SCM_RIGHTS`` over a unix socket in
  a directory private to the deployment), so nothing stays in between;
* websocket between machines (or if the handover fails): relayed frame by frame for
  the life of the connection.

The owner answers forwarded requests itself and never forwards them again (loop guard).
If the owner is unknown (dead process, expired advertisement) the client gets the usual
"Session ID unknown" and reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import struct
import time
from typing import TYPE_CHECKING, Any, Final

import aiohttp
from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from .engine import EngineServer
    from .redis_adapter import RedisBroker

log = logging.getLogger("chatr_server.realtime.cluster")

#: Length of the node id that prefixes every session id (``secrets.token_hex(4)``).
TAG_LENGTH: Final = 8
#: Marks a forwarded request; its value is the forwarding node's id.
FORWARDED_HEADER: Final = "X-Chatr-Forwarded-By"
# A node's advertisement lives this long unless refreshed; refreshed three times as often
# so one slow Redis round trip never makes a live node look dead.
ADVERTISE_TTL_S: Final = 30.0
ADVERTISE_EVERY_S: Final = 10.0
# How long a looked-up address is trusted before asking Redis again.
ADDRESS_CACHE_S: Final = 10.0
# Bound on the address cache (dead nodes' ids would otherwise accumulate).
MAX_CACHED_ADDRESSES: Final = 1024
# Simultaneous forwarded requests per owner: each waiting long-poll holds a connection for
# up to one ping interval, so this bounds sockets and memory, not throughput.
MAX_FORWARD_CONNECTIONS: Final = 4096
# Slack added to the ping interval + timeout for a forwarded GET, and the limit for POSTs.
_FORWARD_SLACK_S: Final = 5.0
_POST_TIMEOUT_S: Final = 10.0
# A handover is one local round trip; past this the owner is considered stuck.
_HANDOFF_TIMEOUT_S: Final = 2.0
# Request heads larger than this are not handed over (aiohttp's own limit is 8 KiB/line).
_MAX_HANDOFF_HEAD: Final = 64 * 1024
_HANDOFF_LEN: Final = struct.Struct(">I")

# Never copied between hops (RFC 9110 §7.6.1), plus the ones the client library sets.
_HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "date",
        "server",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-accept",
        "sec-websocket-protocol",
    }
)


def _copy_headers(headers: object) -> dict[str, str]:
    return {
        k: v
        for k, v in headers.items()  # type: ignore[attr-defined]
        if k.lower() not in _HOP_BY_HOP
    }


class NodeRouter:
    """Session-id tagging, node advertisement and request forwarding for one process."""

    def __init__(self, broker: RedisBroker, url: str, handoff_dir: str | None = None) -> None:
        """``handoff_dir``: a directory shared only by the workers of one machine (mode
        0700); each listens there on ``<node id>.sock`` for websocket handovers."""
        if len(broker.node_id) != TAG_LENGTH:
            raise ValueError(f"node id must be {TAG_LENGTH} characters")
        self.broker = broker
        self.node_id = broker.node_id
        #: Where the other processes reach this one (its internal listener).
        self.url = url.rstrip("/")
        self._key_prefix = f"{broker.prefix}eio-node:"
        self._addresses: dict[str, tuple[str, float]] = {}
        self._http: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self.handoff_dir = handoff_dir
        self._handoff_listener: socket.socket | None = None
        self._handoff_task: asyncio.Task[None] | None = None
        self._adoptions: set[asyncio.Task[None]] = set()
        #: aiohttp's protocol factory, learnt from the first request (see ``new_sid``).
        self._protocol_factory: Any = None
        #: Requests this process passed on: polling forwards, websocket handovers, relays.
        self.stats = {"forwarded": 0, "handed_over": 0, "relayed": 0, "adopted": 0}

    # ------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Advertise this node (the broker must be started) and keep it advertised."""
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, limit_per_host=MAX_FORWARD_CONNECTIONS),
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        try:
            await self._advertise()
        except Exception:
            log.warning("cluster: could not advertise node %s yet", self.node_id, exc_info=True)
        self._task = asyncio.create_task(self._keep_advertising(), name="cluster-advertise")
        if self.handoff_dir is not None:
            path = self._handoff_path(self.node_id)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(path)
            listener.listen(128)
            listener.setblocking(False)
            self._handoff_listener = listener
            self._handoff_task = asyncio.create_task(self._accept_handoffs(), name="handoff")

    async def close(self) -> None:
        log.info("cluster: node %s stats %s", self.node_id, self.stats)
        # Bounded waits: redis-py may absorb a cancellation mid-command (see redis_adapter).
        for task in (self._handoff_task, self._task):
            if task is not None:
                task.cancel()
                await asyncio.wait((task,), timeout=1.0)
        self._handoff_task = self._task = None
        if self._handoff_listener is not None:
            self._handoff_listener.close()
            self._handoff_listener = None
            with contextlib.suppress(OSError):
                os.unlink(self._handoff_path(self.node_id))
        with contextlib.suppress(Exception):
            await self.broker.redis.delete(self._key_prefix + self.node_id)
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def _advertise(self) -> None:
        await self.broker.redis.set(
            self._key_prefix + self.node_id, self.url, px=int(ADVERTISE_TTL_S * 1000)
        )

    async def _keep_advertising(self) -> None:
        failing = False  # one line when advertising starts failing, one when it works again
        while True:
            await asyncio.sleep(ADVERTISE_EVERY_S)
            try:
                await self._advertise()
            except Exception as exc:
                if not failing:
                    log.warning("cluster: advertisement of %s failed (%r)", self.node_id, exc)
                failing = True
            else:
                if failing:
                    log.info("cluster: node %s advertised again", self.node_id)
                failing = False

    # --------------------------------------------------------------- routing

    def new_sid(self, request: web.Request) -> str:
        if self._protocol_factory is None:
            # The aiohttp server that created this request's protocol: handed-over
            # connections get a protocol from it too (no public accessor exists).
            self._protocol_factory = getattr(request.protocol, "_manager", None)
        return self.node_id + secrets.token_urlsafe(15)

    def owner(self, sid: str) -> str | None:
        """The owning node of ``sid`` if it is another node, else None."""
        tag = sid[:TAG_LENGTH]
        if tag == self.node_id or len(sid) <= TAG_LENGTH:
            return None
        return tag

    async def _address(self, node: str) -> str | None:
        now = time.monotonic()
        cached = self._addresses.get(node)
        if cached is not None and cached[1] > now:
            return cached[0]
        raw = await self.broker.redis.get(self._key_prefix + node)
        if raw is None:
            self._addresses.pop(node, None)
            return None
        url = raw.decode() if isinstance(raw, bytes) else str(raw)
        if len(self._addresses) >= MAX_CACHED_ADDRESSES:
            self._addresses.clear()
        self._addresses[node] = (url, now + ADDRESS_CACHE_S)
        return url

    async def forward(
        self, request: web.Request, node: str, engine: EngineServer
    ) -> web.StreamResponse | None:
        """Answer ``request`` through ``node``; None if that node cannot be reached."""
        if request.headers.get(FORWARDED_HEADER) is not None or self._http is None:
            return None  # already forwarded once: the owner does not know the session
        try:
            base = await self._address(node)
        except Exception:
            log.warning("cluster: address lookup of %s failed", node, exc_info=True)
            return None
        if base is None:
            return None
        url = base + request.path_qs
        headers = _copy_headers(request.headers)
        headers[FORWARDED_HEADER] = self.node_id
        if request.headers.get("Upgrade", "").lower() == "websocket":
            if self.handoff_dir is not None and await self._hand_over(request, node):
                self.stats["handed_over"] += 1
                return web.Response()  # never sent: the connection now belongs to the owner
            self.stats["relayed"] += 1
            return await self._relay_websocket(request, url, headers, engine)
        self.stats["forwarded"] += 1
        body: bytes | None = None
        timeout = engine.ping_interval + engine.ping_timeout + _FORWARD_SLACK_S
        if request.method == "POST":
            timeout = _POST_TIMEOUT_S
            # One byte over the limit is enough for the owner to refuse it (413).
            buffer = bytearray()
            async for chunk in request.content.iter_any():
                buffer += chunk
                if len(buffer) > engine.max_payload:
                    break
            body = bytes(buffer)
        try:
            async with self._http.request(
                request.method,
                url,
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as upstream:
                payload = await upstream.read()
                return web.Response(
                    status=upstream.status,
                    body=payload,
                    headers=_copy_headers(upstream.headers),
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("cluster: forwarding to %s (%s) failed: %r", node, base, exc)
            self._addresses.pop(node, None)
            return None

    async def _relay_websocket(
        self, request: web.Request, url: str, headers: dict[str, str], engine: EngineServer
    ) -> web.StreamResponse | None:
        assert self._http is not None
        try:
            upstream = await self._http.ws_connect(
                url,
                headers=headers,
                max_msg_size=engine.max_payload + 1,
                autoping=True,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0),
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info("cluster: websocket to %s refused: %r", url, exc)
            return None
        ws = engine._websocket()
        try:
            await ws.prepare(request)
            to_owner = asyncio.create_task(_pump(ws, upstream, close_sink=True))
            try:
                await _pump(upstream, ws)
            finally:
                to_owner.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await to_owner
        finally:
            await upstream.close()
            await ws.close()
        return ws

    # ------------------------------------------------------------- handover

    def _handoff_path(self, node: str) -> str:
        assert self.handoff_dir is not None
        return os.path.join(self.handoff_dir, f"{node}.sock")

    async def _hand_over(self, request: web.Request, node: str) -> bool:
        """Pass the client's TCP connection (and its request head) to ``node``."""
        path = self._handoff_path(node)
        transport = request.transport
        if transport is None or transport.get_extra_info("sslcontext") is not None:
            return False
        client = transport.get_extra_info("socket")
        if client is None:
            return False
        head = _request_head(request)
        if len(head) > _MAX_HANDOFF_HEAD:
            return False
        loop = asyncio.get_running_loop()
        channel = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        channel.setblocking(False)
        try:
            await loop.sock_connect(channel, path)
        except OSError:  # no such worker on this machine: another node
            channel.close()
            return False
        try:
            async with asyncio.timeout(_HANDOFF_TIMEOUT_S):
                transport.pause_reading()
                message = _HANDOFF_LEN.pack(len(head)) + head
                sent = socket.send_fds(channel, [message], [client.fileno()])
                if sent < len(message):
                    await loop.sock_sendall(channel, message[sent:])
                accepted = await loop.sock_recv(channel, 1)
        except (OSError, TimeoutError) as exc:
            log.info("cluster: handover to %s failed (%r), relaying instead", node, exc)
            with contextlib.suppress(Exception):
                transport.resume_reading()
            return False
        finally:
            channel.close()
        if accepted != b"\x01":
            transport.resume_reading()
            return False
        # The owner holds its own descriptor of the connection: closing ours sends nothing.
        transport.abort()
        return True

    async def _accept_handoffs(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._handoff_listener is not None
        while True:
            channel, _ = await loop.sock_accept(self._handoff_listener)
            task = asyncio.create_task(self._adopt(channel))
            self._adoptions.add(task)
            task.add_done_callback(self._adoptions.discard)

    async def _adopt(self, channel: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        adopted: socket.socket | None = None
        try:
            async with asyncio.timeout(_HANDOFF_TIMEOUT_S):
                ready = loop.create_future()
                loop.add_reader(channel.fileno(), ready.set_result, None)
                try:
                    await ready
                finally:
                    loop.remove_reader(channel.fileno())
                data, fds, _flags, _addr = socket.recv_fds(channel, _MAX_HANDOFF_HEAD + 4, 1)
                if not fds:
                    return
                adopted = socket.socket(fileno=fds[0])
                for extra in fds[1:]:
                    os.close(extra)
                (size,) = _HANDOFF_LEN.unpack_from(data, 0)
                head = bytearray(data[4:])
                while len(head) < size:
                    chunk = await loop.sock_recv(channel, size - len(head))
                    if not chunk:
                        return
                    head += chunk
                factory = self._protocol_factory
                if factory is None or size > _MAX_HANDOFF_HEAD:
                    return
                adopted.setblocking(False)
                _transport, protocol = await loop.connect_accepted_socket(factory, adopted)
                adopted = None  # owned by the transport now
                protocol.data_received(bytes(head))
                await loop.sock_sendall(channel, b"\x01")
                self.stats["adopted"] += 1
        except (OSError, TimeoutError, struct.error) as exc:
            log.warning("cluster: could not adopt a handed-over connection: %r", exc)
        finally:
            if adopted is not None:
                adopted.close()
            channel.close()


def _request_head(request: web.Request) -> bytes:
    """The request line and headers as received (what the owner's parser must see)."""
    version = request.version
    lines = [f"{request.method} {request.raw_path} HTTP/{version.major}.{version.minor}".encode()]
    lines += [name + b": " + value for name, value in request.raw_headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _pump(
    source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
    close_sink: bool = False,
) -> None:
    """Copy data frames until ``source`` closes or errors (then close ``sink`` if asked,
    which ends the pump running the other way)."""
    try:
        async for msg in source:
            if msg.type is WSMsgType.TEXT:
                await sink.send_str(msg.data)
            elif msg.type is WSMsgType.BINARY:
                await sink.send_bytes(msg.data)
            else:
                break
    except (ConnectionError, RuntimeError):
        pass
    finally:
        if close_sink:
            with contextlib.suppress(Exception):
                await sink.close()
