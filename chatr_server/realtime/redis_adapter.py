"""Cross-process fan-out over Redis pub/sub: :class:`RedisBroker` and :class:`RedisAdapter`.

Every process keeps its own rooms in memory (the adapter *is* an
:class:`~chatr_server.realtime.adapter.InProcessAdapter`) and publishes each broadcast,
already encoded, to one channel per namespace. The other processes write the very same
frames to their local members; a process ignores its own messages (node id tag).

Why pub/sub and not Redis sets for membership: joins and leaves are frequent (every
connect joins two rooms) and local, while cluster-wide membership queries are rare. Keeping
rooms local costs no Redis write per join and leaves nothing stale behind a crashed
process. ``fetch_sids`` asks the other nodes instead (request/response on the same
channel, expected answers = ``PUBSUB NUMSUB`` − 1, with a timeout), as the reference
redis adapter does. A dead process unsubscribes with its TCP connection, so it is never
waited for.

Room commands travel the same way: ``sockets_leave`` (sockets selected by room leave
rooms) and ``disconnect_sockets`` are applied locally and published, so each process
applies them to its own sockets. Published on the same outbox as broadcasts, a command
reaches every other process before any broadcast its sender published after it.

Not supported across processes: acknowledgements from many sockets (the server has no
room-wide ``emitWithAck`` even in process) and remote ``join`` of sockets.

The event loop is never blocked: ``broadcast`` delivers locally and appends to a bounded
outbox drained by one publisher task (oldest entries are dropped, and counted, while Redis
is unreachable). Publisher and subscriber reconnect with capped exponential backoff and
resubscribe. Delivery is at most once, like Redis pub/sub itself. An outage is logged
once when it starts and once when it ends (with the number of broadcasts lost meanwhile,
also kept in ``lost``), not once per retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import secrets
import struct
from collections import deque
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any, Final

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from .adapter import _EMPTY, InProcessAdapter
from .eio_protocol import BinaryFrame

if TYPE_CHECKING:
    from .server import Namespace

log = logging.getLogger("chatr_server.realtime.redis")

# Outbox bound in messages: a few seconds of a busy node's broadcasts. Past it (Redis
# down or too slow) the oldest are dropped rather than growing memory without limit.
DEFAULT_MAX_OUTBOX: Final = 10_000
# Messages sent per pipeline round trip: amortises latency without huge buffers.
PUBLISH_BATCH: Final = 256
# Reconnect backoff: first retry quickly (a Redis restart or failover takes ~1 s), cap
# so a long outage is retried every few seconds without hammering the server.
BACKOFF_MIN_S: Final = 0.1
BACKOFF_MAX_S: Final = 5.0
# How long a cluster-wide membership query waits for every other node.
DEFAULT_REQUEST_TIMEOUT_S: Final = 5.0
# Subscriber read timeout: also how soon a namespace created at run time is subscribed.
_POLL_S: Final = 1.0
# On close: how long queued broadcasts may take to leave, and how long a cancelled task
# may take to finish. Bounded because redis-py can absorb a cancellation mid-command
# (it surfaces as a connection error), so close never relies on cancellation alone.
_CLOSE_DRAIN_S: Final = 1.0
_CLOSE_CANCEL_S: Final = 1.0

# Message kinds (first byte on the wire).
_BROADCAST: Final = b"B"[0]
_REQUEST: Final = b"Q"[0]
_RESPONSE: Final = b"R"[0]
_COMMAND: Final = b"C"[0]
_LEN: Final = struct.Struct(">I")


def _encode_frames(frames: Sequence[bytes]) -> bytes:
    parts = []
    for frame in frames:
        parts.append(b"b" if type(frame) is BinaryFrame else b"t")
        parts.append(_LEN.pack(len(frame)))
        parts.append(frame)
    return b"".join(parts)


def _decode_frames(data: memoryview) -> tuple[bytes, ...]:
    frames: list[bytes] = []
    pos = 0
    end = len(data)
    while pos < end:
        kind = data[pos]
        (size,) = _LEN.unpack_from(data, pos + 1)
        pos += 5
        chunk = bytes(data[pos : pos + size])
        pos += size
        frames.append(BinaryFrame(chunk) if kind == ord("b") else chunk)
    return tuple(frames)


class _Pending:
    """An outstanding cluster-wide query: answers still expected and the union so far."""

    __slots__ = ("expected", "future", "sids")

    def __init__(self, future: asyncio.Future[None], expected: int) -> None:
        self.future = future
        self.expected = expected
        self.sids: set[str] = set()


class RedisBroker:
    """One process's Redis connections, shared by the adapters of all its namespaces.

    Use :meth:`adapter` as the ``SocketServer(adapter=...)`` factory, ``await start()``
    before serving and ``await close()`` after the server shut down.
    """

    def __init__(
        self,
        url: str,
        prefix: str = "",
        node_id: str | None = None,
        *,
        max_outbox: int = DEFAULT_MAX_OUTBOX,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT_S,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.node_id = node_id or secrets.token_hex(4)
        self.request_timeout = request_timeout
        self._node_b = self.node_id.encode()
        self._response_channel = f"{prefix}sio-res#{self.node_id}"
        self._adapters: dict[str, RedisAdapter] = {}  # channel → adapter
        # (channel, message) to publish, or (None, fn): fn(pipeline) queues commands.
        self._outbox: deque[tuple[str | None, Any]] = deque(maxlen=max_outbox)
        self._dropped = 0
        #: Broadcasts that never reached Redis (failed publishes and outbox overflow).
        self.lost = 0
        self._publish_failing = False
        self._wakeup: asyncio.Event | None = None
        self._redis: Redis | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._subscribed: set[str] = set()
        self._ready: asyncio.Event | None = None
        self._requests: dict[int, _Pending] = {}
        self._request_ids = itertools.count()

    @property
    def redis(self) -> Redis:
        """The command client (available once started); others may share it."""
        if self._redis is None:
            raise RuntimeError("RedisBroker is not started")
        return self._redis

    def channel(self, namespace: str) -> str:
        return f"{self.prefix}sio#{namespace}"

    def adapter(self, namespace: Namespace) -> RedisAdapter:
        """Adapter factory for :class:`SocketServer`."""
        adapter = RedisAdapter(namespace, self)
        self._adapters[adapter.channel] = adapter
        return adapter

    # ------------------------------------------------------------- lifecycle

    async def start(self, wait: float = 5.0) -> None:
        """Connect and subscribe; waits up to ``wait`` s for the first subscription.

        Start-up proceeds if Redis is not reachable yet: the tasks keep retrying.
        """
        self._redis = Redis.from_url(
            self.url,
            socket_connect_timeout=3,
            health_check_interval=30,
            client_name=f"chatr-sio-{self.node_id}",  # visible in CLIENT LIST
        )
        self._wakeup = asyncio.Event()
        self._ready = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._publish_loop(), name="redis-adapter-publish"),
            asyncio.create_task(self._subscribe_loop(), name="redis-adapter-subscribe"),
        ]
        try:
            await asyncio.wait_for(self._ready.wait(), wait)
        except TimeoutError:
            log.warning("redis adapter: not subscribed after %.0f s, retrying in background", wait)

    async def close(self) -> None:
        self._closing = True
        if self._tasks:
            publisher, subscriber = self._tasks
            self._tasks = []
            subscriber.cancel()
            assert self._wakeup is not None
            self._wakeup.set()  # the publisher sends what is queued, then returns
            _done, pending = await asyncio.wait((publisher,), timeout=_CLOSE_DRAIN_S)
            for task in pending:
                task.cancel()
            await asyncio.wait((publisher, subscriber), timeout=_CLOSE_CANCEL_S)
        for pending_request in self._requests.values():
            if not pending_request.future.done():
                pending_request.future.cancel()
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
            self._redis = None

    # ------------------------------------------------------------- publishing

    def publish(self, channel: str, data: bytes) -> None:
        """Queue one message; never blocks (the oldest is dropped when the outbox is full)."""
        outbox = self._outbox
        if len(outbox) == outbox.maxlen:
            self._dropped += 1
            self.lost += 1
        outbox.append((channel, data))
        if self._wakeup is not None:
            self._wakeup.set()

    def command(self, write: Callable[[Any], None]) -> None:
        """Queue ``write(pipeline)`` for the publisher's next batch; never blocks.

        Commands and publications leave in queue order, in the same pipelines.
        """
        self.publish(None, write)  # type: ignore[arg-type]

    async def _publish_loop(self) -> None:
        assert self._wakeup is not None
        delay = BACKOFF_MIN_S
        while True:
            if not self._outbox:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = [self._outbox.popleft() for _ in range(min(PUBLISH_BATCH, len(self._outbox)))]
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for channel, data in batch:
                        if channel is None:
                            data(pipe)
                        else:
                            pipe.publish(channel, data)
                    await pipe.execute()
                delay = BACKOFF_MIN_S
                if self._publish_failing:
                    self._publish_failing = False
                    log.info(
                        "redis adapter: publishing again; %d broadcasts to other nodes were lost",
                        self._dropped,
                    )
                    self._dropped = 0
            except (RedisError, OSError) as exc:
                self.lost += len(batch)
                self._dropped += len(batch)
                if not self._publish_failing:
                    self._publish_failing = True
                    log.warning(
                        "redis adapter: publish failed (%r); broadcasts to other nodes are"
                        " dropped until Redis answers",
                        exc,
                    )
                if self._closing:
                    return
                await asyncio.sleep(_jitter(delay))
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            if self._dropped:
                log.warning("redis adapter: outbox full, %d oldest messages dropped", self._dropped)
                self._dropped = 0

    # ------------------------------------------------------------ subscribing

    async def _subscribe_loop(self) -> None:
        assert self._ready is not None
        delay = BACKOFF_MIN_S
        lost = False  # logged once per outage, not once per retry
        while not self._closing:
            pubsub = self.redis.pubsub()
            try:
                wanted = {self._response_channel, *self._adapters}
                await pubsub.subscribe(*wanted)
                self._subscribed = wanted
                self._ready.set()
                delay = BACKOFF_MIN_S
                if lost:
                    lost = False
                    log.info("redis adapter: subscribed again")
                while not self._closing:
                    missing = set(self._adapters) - self._subscribed
                    if missing:
                        await pubsub.subscribe(*missing)
                        self._subscribed |= missing
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=_POLL_S)
                    if msg is not None and msg["type"] == "message":
                        self._dispatch(msg["channel"], msg["data"])
            except (RedisError, OSError) as exc:
                self._subscribed = set()
                if self._closing:
                    return
                if not lost:
                    lost = True
                    log.warning("redis adapter: subscription lost (%r), retrying", exc)
                await asyncio.sleep(_jitter(delay))
                delay = min(delay * 2, BACKOFF_MAX_S)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _dispatch(self, channel: bytes | str, data: bytes) -> None:
        """Handle one pub/sub message; malformed input is logged, never raised."""
        try:
            view = memoryview(data)
            kind = view[0]
            if kind == _RESPONSE:
                self._on_response(orjson.loads(view[1:]))
                return
            size = view[1]
            if view[2 : 2 + size] == self._node_b:
                return  # our own broadcast or request
            name = channel.decode() if isinstance(channel, bytes) else channel
            adapter = self._adapters.get(name)
            if adapter is None:
                return
            body = view[2 + size :]
            if kind == _BROADCAST:
                (head_size,) = _LEN.unpack_from(body, 0)
                head = orjson.loads(body[4 : 4 + head_size])
                frames = _decode_frames(body[4 + head_size :])
                origin = (head[3][0], head[3][1]) if len(head) > 3 else None
                adapter._deliver_remote(
                    frames, frozenset(head[0]), frozenset(head[1]), frozenset(head[2]), origin
                )
            elif kind == _COMMAND:
                command = orjson.loads(body)
                if command["op"] == "leave":
                    adapter.leave_local(command["rooms"], command["leave"])
                elif command["op"] == "disconnect":
                    adapter.disconnect_local(command["rooms"])
            elif kind == _REQUEST:
                request = orjson.loads(body)
                sids = sorted(adapter.sockets(request["rooms"]))
                self.publish(
                    f"{self.prefix}sio-res#{request['node']}",
                    bytes((_RESPONSE,)) + orjson.dumps({"id": request["id"], "sids": sids}),
                )
        except Exception:
            log.exception("redis adapter: bad message on %r", channel)

    # ------------------------------------------------------------ messages

    def _header(self, kind: int) -> bytes:
        return bytes((kind, len(self._node_b))) + self._node_b

    def publish_broadcast(
        self,
        channel: str,
        frames: Sequence[bytes],
        rooms: Collection[str],
        except_rooms: Collection[str],
        except_sids: Collection[str],
        origin: tuple[str, int] | None = None,
    ) -> None:
        fields: list[Any] = [list(rooms), list(except_rooms), list(except_sids)]
        if origin is not None:
            fields.append(origin)  # recovery: emitter and seq (realtime/recovery.py)
        head = orjson.dumps(fields)
        self.publish(
            channel,
            self._header(_BROADCAST) + _LEN.pack(len(head)) + head + _encode_frames(frames),
        )

    def publish_command(self, channel: str, command: dict[str, Any]) -> None:
        self.publish(channel, self._header(_COMMAND) + orjson.dumps(command))

    async def request_sids(self, channel: str, rooms: Collection[str]) -> set[str]:
        """Union of the other nodes' local members of ``rooms`` (all sockets if empty)."""
        counts = await self.redis.pubsub_numsub(channel)
        subscribers = int(counts[0][1]) if counts else 0
        expected = subscribers - (1 if channel in self._subscribed else 0)
        if expected <= 0:
            return set()
        request_id = next(self._request_ids)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        pending = self._requests[request_id] = _Pending(future, expected)
        self.publish(
            channel,
            self._header(_REQUEST)
            + orjson.dumps({"id": request_id, "node": self.node_id, "rooms": list(rooms)}),
        )
        try:
            await asyncio.wait_for(future, self.request_timeout)
        except TimeoutError:
            raise TimeoutError(
                f"fetch_sids: {expected - pending.expected} of {expected} nodes answered"
            ) from None
        finally:
            self._requests.pop(request_id, None)
        return pending.sids

    def _on_response(self, response: dict[str, Any]) -> None:
        pending = self._requests.get(response["id"])
        if pending is None:
            return  # late answer to a query that timed out
        pending.sids.update(response["sids"])
        pending.expected -= 1
        if pending.expected <= 0 and not pending.future.done():
            pending.future.set_result(None)


def _jitter(delay: float) -> float:
    """Spread reconnect attempts of many processes (±25 %)."""
    return delay * (0.75 + random.random() / 2)


class RedisAdapter(InProcessAdapter):
    """Local rooms plus publication of every broadcast to the other processes."""

    def __init__(self, namespace: Namespace, broker: RedisBroker) -> None:
        super().__init__(namespace)
        self.broker = broker
        self.channel = broker.channel(namespace.name)

    def broadcast(
        self,
        frames: Sequence[bytes],
        rooms: Collection[str] = _EMPTY,
        except_rooms: Collection[str] = _EMPTY,
        except_sids: Collection[str] = _EMPTY,
        origin: tuple[str, int] | None = None,
    ) -> None:
        super().broadcast(frames, rooms, except_rooms, except_sids, origin)
        if rooms:
            # Socket ids are unique cluster-wide and a socket's own room only exists on
            # its process: an emit to local sockets by id needs no publication.
            local = self.namespace.sockets
            if all(room in local for room in rooms):
                return
        self.broker.publish_broadcast(
            self.channel, frames, rooms, except_rooms, except_sids, origin
        )

    def _deliver_remote(
        self,
        frames: Sequence[bytes],
        rooms: Collection[str],
        except_rooms: Collection[str],
        except_sids: Collection[str],
        origin: tuple[str, int] | None = None,
    ) -> None:
        InProcessAdapter.broadcast(self, frames, rooms, except_rooms, except_sids, origin)

    def sockets_leave(self, rooms: Collection[str], leave: Collection[str]) -> None:
        self.leave_local(rooms, leave)
        self.broker.publish_command(
            self.channel, {"op": "leave", "rooms": list(rooms), "leave": list(leave)}
        )

    def disconnect_sockets(self, rooms: Collection[str]) -> None:
        self.disconnect_local(rooms)
        self.broker.publish_command(self.channel, {"op": "disconnect", "rooms": list(rooms)})

    async def fetch_sids(self, rooms: Collection[str] = _EMPTY) -> set[str]:
        """Members of ``rooms`` on every process; TimeoutError if a node does not answer."""
        local = self.sockets(rooms)
        return local | await self.broker.request_sids(self.channel, rooms)

    async def fetch_room_size(self, room: str) -> int:
        return len(await self.fetch_sids((room,)))

    async def close(self) -> None:
        self.broker._adapters.pop(self.channel, None)
