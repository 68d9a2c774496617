"""Cross-process fan-out over Redis pub/sub: :class:`RedisBroker` and :class:`RedisAdapter`.

Every process keeps its own rooms in memory (the adapter *is* an
:class:`~chatr_server.realtime.adapter.InProcessAdapter`) and publishes each broadcast,
already encoded, to the other processes, which write the very same frames to their local
members. What it is published on decides who pays for it (docs/scaling.md):

* an emit to named rooms goes to one channel **per room**; a process subscribes to a
  room's channel while it holds a member of the room (subscriptions are sent
  asynchronously and batched by one task, never on the emit path), so a message costs
  nothing on processes that hold none of its recipients. An emit to several rooms is
  published once per room with a message id; a process holding members of several of
  them delivers the first copy to all of them and drops the others;
* a *wide* emit, to ``WIDE_EMIT_ROOMS`` rooms or more and to at least as many rooms as
  there are processes (counted every few seconds), goes once on the **namespace
  channel**: one copy per process costs Redis and the receivers less than one per room
  (a ``user:status`` to 50 contacts is one publish, not 50);
* an emit to everyone, to a socket id that is not local (socket ids are not tied to a
  process: a restored session keeps its sid) or to a room whose name looks like a
  socket id goes to the **namespace channel**, which every process subscribes to;
* answers to membership queries go to the asking process's own channel.

With ``cluster=True`` (Redis Cluster) the channels are *sharded* channels
(SSUBSCRIBE/SPUBLISH). All channel names share one hash tag, so they live on one shard:
one subscriber connection per process, and the FIFO order per publisher that recovery
relies on holds across channels, as on a single Redis.

Room commands (``sockets_leave``, ``disconnect_sockets``) travel the same way, on the
channels of the rooms whose members they affect, so they reach every process concerned
before any broadcast their sender published after them.

Why pub/sub and not Redis sets for membership: joins and leaves are frequent (every
connect joins two rooms) and local, while cluster-wide membership queries are rare.
``fetch_sids`` asks the other nodes instead (request/response on the namespace channel,
expected answers = subscribers − 1, with a timeout), as the reference redis adapter does.
A dead process unsubscribes with its TCP connection, so it is never waited for.

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
import re
import secrets
import struct
from collections import deque
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final

import orjson
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import AskError, ClusterError, RedisError, ResponseError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError

from .adapter import _EMPTY, InProcessAdapter
from .eio_protocol import BinaryFrame
from .redis_writer import CommandBatch, RedisWriter

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
# How often the processes are counted (see RedisBroker.nodes).
CENSUS_S: Final = 5.0
# Commands Redis refused (a script error, a wrong type) are logged at most this often.
REFUSED_LOG_S: Final = 60.0
# Error replies about the cluster's state rather than the command: an outage.
_CLUSTER_STATE: Final = (ClusterError, AskError, TryAgainError)
# An emit to at least this many rooms, and to at least as many rooms as there are
# processes, is "wide": published once on the namespace channel, not once per room.
WIDE_EMIT_ROOMS: Final = 8
# How long a cluster-wide membership query waits for every other node.
DEFAULT_REQUEST_TIMEOUT_S: Final = 5.0
# Multi-room message ids remembered for de-duplication: far more than can be in flight
# between the copies of one message (they are published back to back).
_MAX_SEEN: Final = 16_384
# Room → channel name cache bound.
_MAX_CHANNEL_CACHE: Final = 65_536
# Socket ids are ``secrets.token_urlsafe(15)`` (server.py).
_SID_LENGTH: Final = 20
_SID_RE: Final = re.compile(r"[A-Za-z0-9_-]+")
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
    before serving and ``await close()`` after the server shut down. ``cluster``: the
    URL names any node of a Redis Cluster.
    """

    def __init__(
        self,
        url: str,
        prefix: str = "",
        node_id: str | None = None,
        *,
        cluster: bool = False,
        max_outbox: int = DEFAULT_MAX_OUTBOX,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT_S,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.cluster = cluster
        self.node_id = node_id or secrets.token_hex(4)
        self.request_timeout = request_timeout
        self._node_b = self.node_id.encode()
        # One hash tag for every channel: one shard on a cluster (see module docstring).
        self._base = f"{{{prefix}sio}}"
        self._node_channel = f"{self._base}-n#{self.node_id}"
        self._adapters: dict[str, RedisAdapter] = {}  # namespace channel → adapter
        self._room_adapters: dict[str, RedisAdapter] = {}  # room channel → adapter
        # (channel, message) to publish, or (None, fn): fn(pipeline) queues commands.
        self._outbox: deque[tuple[str | None, Any]] = deque(maxlen=max_outbox)
        self._dropped = 0
        #: Broadcasts that never reached Redis (failed publishes and outbox overflow).
        self.lost = 0
        #: Commands Redis answered with an error (a script error, a wrong type).
        self.refused = 0
        self._publish_failing = False
        self._wakeup: asyncio.Event | None = None
        self._redis: Any = None
        # The publisher's own connection on a single Redis (redis-py's pipeline otherwise).
        self._writer: RedisWriter | None = None
        # Commands Redis refused since the last log line about it, and when that was.
        self._refused = 0
        self._refused_logged: float | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        # Channels wanted, sent to Redis on the current connection, and confirmed by it.
        self._wanted: set[str] = {self._node_channel}
        self._sent: set[str] = set()
        self._subscribed: set[str] = set()
        self._resubscribe: asyncio.Event | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._ready: asyncio.Event | None = None
        self._requests: dict[int, _Pending] = {}
        self._request_ids = itertools.count()
        self._message_ids = itertools.count()
        # Ids of multi-room messages already delivered (insertion-ordered, bounded).
        self._seen: dict[bytes, None] = {}
        #: Processes subscribed to the namespace channel (this one included), counted
        #: every CENSUS_S; None until first counted. A wide emit (WIDE_EMIT_ROOMS) to at
        #: least this many rooms is published once on the namespace channel.
        self.nodes: int | None = None

    @property
    def redis(self) -> Any:
        """The command client (``Redis`` or ``RedisCluster``, once started)."""
        if self._redis is None:
            raise RuntimeError("RedisBroker is not started")
        return self._redis

    def channel(self, namespace: str) -> str:
        return f"{self._base}#{namespace}"

    def room_channel(self, namespace: str, room: str) -> str:
        return f"{self._base}#{namespace}#{room}"

    def adapter(self, namespace: Namespace) -> RedisAdapter:
        """Adapter factory for :class:`SocketServer`."""
        adapter = RedisAdapter(namespace, self)
        self._adapters[adapter.channel] = adapter
        self._want(adapter.channel, adapter)
        return adapter

    # ------------------------------------------------------------- lifecycle

    async def start(self, wait: float = 5.0) -> None:
        """Connect and subscribe; waits up to ``wait`` s for the first subscription.

        Start-up proceeds if Redis is not reachable yet: the tasks keep retrying.
        """
        self._redis = connect(
            self.url,
            cluster=self.cluster,
            socket_connect_timeout=3,
            health_check_interval=30,
            client_name=f"chatr-sio-{self.node_id}",  # visible in CLIENT LIST
        )
        if not self.cluster and RedisWriter.supports(self.url):
            self._writer = RedisWriter(
                self.url, client_name=f"chatr-sio-w-{self.node_id}", timeout=self.request_timeout
            )
        self._wakeup = asyncio.Event()
        self._ready = asyncio.Event()
        self._resubscribe = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._publish_loop(), name="redis-adapter-publish"),
            asyncio.create_task(self._subscribe_loop(), name="redis-adapter-subscribe"),
            asyncio.create_task(self._census_loop(), name="redis-adapter-census"),
        ]
        try:
            await asyncio.wait_for(self._ready.wait(), wait)
        except TimeoutError:
            log.warning("redis adapter: not subscribed after %.0f s, retrying in background", wait)

    async def close(self) -> None:
        self._closing = True
        if self._tasks:
            publisher, subscriber, census = self._tasks
            self._tasks = []
            subscriber.cancel()
            census.cancel()
            assert self._wakeup is not None
            self._wakeup.set()  # the publisher sends what is queued, then returns
            _done, pending = await asyncio.wait((publisher,), timeout=_CLOSE_DRAIN_S)
            for task in pending:
                task.cancel()
            await asyncio.wait((publisher, subscriber, census), timeout=_CLOSE_CANCEL_S)
        for pending_request in self._requests.values():
            if not pending_request.future.done():
                pending_request.future.cancel()
        self._settle_waiters()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
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
                await self._send(batch)
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

    async def _send(self, batch: list[tuple[str | None, Any]]) -> None:
        """One batch of the outbox, in order, in one round trip."""
        writer = self._writer
        refused: list[Any]
        if writer is None:
            async with self.redis.pipeline(transaction=False) as pipe:
                publish = pipe.spublish if self.cluster else pipe.publish
                for channel, data in batch:
                    if channel is None:
                        data(pipe)
                    else:
                        publish(channel, data)
                results = await pipe.execute(raise_on_error=False)
            refused = _refused(results)
        else:
            commands = CommandBatch()
            for channel, data in batch:
                if channel is not None:
                    commands.publish(channel, data)
                    continue
                try:
                    data(commands)
                except (TypeError, ValueError) as exc:  # hiredis cannot pack an argument
                    log.error("redis adapter: a queued write was dropped: %r", exc)
            refused = await writer.execute(commands)
        if refused:  # a command's own fault, not an outage: the rest of the batch went
            self.refused += len(refused)
            self._refused += len(refused)
            now = asyncio.get_running_loop().time()
            last = self._refused_logged
            if last is None or now - last >= REFUSED_LOG_S:
                log.warning(
                    "redis adapter: commands Redis refused since the last report: %d (latest: %s)",
                    self._refused,
                    refused[-1],
                )
                self._refused, self._refused_logged = 0, now

    async def _census_loop(self) -> None:
        """Count the processes every CENSUS_S (a stale count only costs, never loses: the
        namespace channel reaches every process)."""
        while True:
            channel = next(iter(self._adapters), None)
            if channel is not None:
                with contextlib.suppress(RedisError, OSError):
                    self.nodes = await self.subscribers(channel)
            await asyncio.sleep(CENSUS_S)

    # ------------------------------------------------------------ subscribing

    def _want(self, channel: str, adapter: RedisAdapter | None = None) -> None:
        if adapter is not None and channel != adapter.channel:
            self._room_adapters[channel] = adapter
        if channel not in self._wanted:
            self._wanted.add(channel)
            if self._resubscribe is not None:
                self._resubscribe.set()

    def _unwant(self, channel: str) -> None:
        self._room_adapters.pop(channel, None)
        if channel in self._wanted:
            self._wanted.discard(channel)
            if self._resubscribe is not None:
                self._resubscribe.set()

    def subscribed(self) -> asyncio.Future[None] | None:
        """None when every wanted channel is subscribed, else a future set once they
        are (or the broker gives up on this connection)."""
        if self._wanted <= self._subscribed or self._closing:
            return None
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        return future

    def _settle_waiters(self, done: bool = True) -> None:
        if not self._waiters or (not done and not self._wanted <= self._subscribed):
            return
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    async def _pubsub_client(self) -> tuple[Any, bool]:
        """A client for the subscriber connection, and whether it is ours to close.

        On a cluster: the master serving the channels' hash slot (looked up afresh on
        every reconnect, so a failover or slot move is followed)."""
        if not self.cluster:
            return self.redis, False
        cluster = self.redis
        await cluster.initialize()
        node = cluster.get_node_from_key(self._node_channel)
        client = Redis(
            host=node.host,
            port=node.port,
            socket_connect_timeout=3,
            health_check_interval=30,
            client_name=f"chatr-sio-{self.node_id}",
        )
        return client, True

    async def _subscribe_loop(self) -> None:
        assert self._ready is not None
        delay = BACKOFF_MIN_S
        lost = False  # logged once per outage, not once per retry
        while not self._closing:
            client: Any = None
            own = False
            pubsub: Any = None
            manager: asyncio.Task[None] | None = None
            try:
                client, own = await self._pubsub_client()
                pubsub = client.pubsub()
                self._sent = set(self._wanted)
                self._subscribed = set()
                await self._send_subscribe(pubsub, self._sent, ())
                manager = asyncio.create_task(self._manage(pubsub), name="redis-adapter-subs")
                delay = BACKOFF_MIN_S
                while not self._closing:
                    msg = await pubsub.get_message(timeout=None)
                    if msg is None:
                        continue
                    kind = msg["type"]
                    if kind == "message" or kind == "smessage":
                        self._dispatch(msg["channel"], msg["data"])
                    elif kind == "subscribe" or kind == "ssubscribe":
                        self._on_subscribed(msg["channel"])
                        if lost and self._node_channel in self._subscribed:
                            lost = False
                            log.info("redis adapter: subscribed again")
                    elif kind == "sunsubscribe" and self._decode(msg["channel"]) in self._sent:
                        # The cluster moved the channels' slot: follow it.
                        raise RedisConnectionError("sharded channel slot moved")
            except (RedisError, OSError) as exc:
                self._sent = set()
                self._subscribed = set()
                self._settle_waiters()
                if self._closing:
                    return
                if not lost:
                    lost = True
                    log.warning("redis adapter: subscription lost (%r), retrying", exc)
                await asyncio.sleep(_jitter(delay))
                delay = min(delay * 2, BACKOFF_MAX_S)
            finally:
                if manager is not None:
                    manager.cancel()
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()
                if own and client is not None:
                    with contextlib.suppress(Exception):
                        await client.aclose()

    async def _send_subscribe(
        self, pubsub: Any, add: Collection[str], drop: Collection[str]
    ) -> None:
        if self.cluster:
            if drop:
                await pubsub.sunsubscribe(*drop)
            if add:
                await pubsub.ssubscribe(*add)
        else:
            if drop:
                await pubsub.unsubscribe(*drop)
            if add:
                await pubsub.subscribe(*add)

    async def _manage(self, pubsub: Any) -> None:
        """Send the changes to the wanted channels, batched, while the reader reads."""
        assert self._resubscribe is not None
        event = self._resubscribe
        while True:
            await event.wait()
            event.clear()
            wanted = set(self._wanted)
            add = wanted - self._sent
            drop = self._sent - wanted
            if not add and not drop:
                continue
            self._sent = wanted
            self._subscribed -= drop
            try:
                await self._send_subscribe(pubsub, add, drop)
            except (RedisError, OSError):
                # The reader sees the broken connection too and starts over.
                return

    @staticmethod
    def _decode(channel: bytes | str) -> str:
        return channel.decode() if isinstance(channel, bytes) else channel

    def _on_subscribed(self, channel: bytes | str) -> None:
        name = self._decode(channel)
        if name in self._sent:
            self._subscribed.add(name)
        if self._node_channel in self._subscribed:
            assert self._ready is not None
            self._ready.set()
        self._settle_waiters(done=False)

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
            name = self._decode(channel)
            adapter = self._adapters.get(name) or self._room_adapters.get(name)
            if adapter is None:
                return  # a room this process no longer holds
            body = view[2 + size :]
            if kind == _BROADCAST:
                (head_size,) = _LEN.unpack_from(body, 0)
                head = orjson.loads(body[4 : 4 + head_size])
                if len(head) > 4 and head[4] is not None:
                    # One copy per target room: deliver the first to every local member.
                    key = bytes(view[1 : 2 + size]) + head[4].encode()
                    seen = self._seen
                    if key in seen:
                        return
                    seen[key] = None
                    if len(seen) > _MAX_SEEN:
                        del seen[next(iter(seen))]
                frames = _decode_frames(body[4 + head_size :])
                origin = (head[3][0], head[3][1]) if len(head) > 3 and head[3] else None
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
                    f"{self._base}-n#{request['node']}",
                    bytes((_RESPONSE,)) + orjson.dumps({"id": request["id"], "sids": sids}),
                )
        except Exception:
            log.exception("redis adapter: bad message on %r", channel)

    # ------------------------------------------------------------ messages

    def _header(self, kind: int) -> bytes:
        return bytes((kind, len(self._node_b))) + self._node_b

    def publish_broadcast(
        self,
        channels: Sequence[str],
        frames: Sequence[bytes],
        rooms: Collection[str],
        except_rooms: Collection[str],
        except_sids: Collection[str],
        origin: tuple[str, int] | None = None,
    ) -> None:
        """Publish one broadcast on each of ``channels`` (encoded once)."""
        fields: list[Any] = [list(rooms), list(except_rooms), list(except_sids)]
        if len(channels) > 1:
            fields += [origin, f"{next(self._message_ids):x}"]
        elif origin is not None:
            fields.append(origin)  # recovery: emitter and seq (realtime/recovery.py)
        head = orjson.dumps(fields)
        data = self._header(_BROADCAST) + _LEN.pack(len(head)) + head + _encode_frames(frames)
        for channel in channels:
            self.publish(channel, data)

    def publish_command(self, channels: Sequence[str], command: dict[str, Any]) -> None:
        data = self._header(_COMMAND) + orjson.dumps(command)
        for channel in channels:
            self.publish(channel, data)

    async def subscribers(self, channel: str) -> int:
        """How many processes subscribe to ``channel`` (this one included)."""
        redis = self.redis
        if self.cluster:
            counts = await redis.execute_command(
                "PUBSUB SHARDNUMSUB", channel, target_nodes=redis.get_node_from_key(channel)
            )
        else:
            counts = await redis.pubsub_numsub(channel)
        return _numsub(counts)

    async def request_sids(self, channel: str, rooms: Collection[str]) -> set[str]:
        """Union of the other nodes' local members of ``rooms`` (all sockets if empty)."""
        expected = await self.subscribers(channel) - (1 if channel in self._subscribed else 0)
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


def _numsub(counts: Any) -> int:
    """The subscriber count from a NUMSUB reply (a list of pairs, or a flat list)."""
    if isinstance(counts, dict):
        counts = list(counts.items())
    if not counts:
        return 0
    first = counts[0]
    if isinstance(first, (list, tuple)):
        return int(first[1])
    return int(counts[1]) if len(counts) > 1 else 0


def _refused(results: Sequence[Any]) -> list[ResponseError]:
    """The commands Redis refused among a pipeline's ``raise_on_error=False`` results.

    An error reply is the command's own fault (a script error, a wrong type): it is
    counted, and the rest of the batch went. What stands for an outage instead (a lost
    connection, a cluster that is down or moving slots) is raised.
    """
    refused: list[ResponseError] = []
    for result in results:
        if not isinstance(result, Exception):
            continue
        if isinstance(result, ResponseError) and not isinstance(result, _CLUSTER_STATE):
            refused.append(result)
        elif isinstance(result, RedisError | OSError):
            raise result
        else:
            raise RedisError(repr(result)) from result
    return refused


def connect(url: str, *, cluster: bool = False, **options: Any) -> Any:
    """A ``redis.asyncio`` client for ``url``: a ``RedisCluster`` when ``cluster``
    (the URL names any node; the others are discovered)."""
    if cluster:
        options.pop("health_check_interval", None)
        return RedisCluster.from_url(url, **options)
    return Redis.from_url(url, **options)


def _jitter(delay: float) -> float:
    """Spread reconnect attempts of many processes (±25 %)."""
    return delay * (0.75 + random.random() / 2)


def is_sid_like(room: str) -> bool:
    """Whether ``room`` may be a socket id (``token_urlsafe(15)``): such rooms go to
    every process, as a socket's process is not known from its id."""
    return len(room) == _SID_LENGTH and _SID_RE.fullmatch(room) is not None


class RedisAdapter(InProcessAdapter):
    """Local rooms plus publication of broadcasts to the processes that hold members."""

    def __init__(self, namespace: Namespace, broker: RedisBroker) -> None:
        super().__init__(namespace)
        self.broker = broker
        self.channel = broker.channel(namespace.name)
        self._room_channels: dict[str, str] = {}

    def _room_channel(self, room: str) -> str:
        channel = self._room_channels.get(room)
        if channel is None:
            channel = self.broker.room_channel(self.namespace.name, room)
            if len(self._room_channels) >= _MAX_CHANNEL_CACHE:
                self._room_channels.clear()
            self._room_channels[room] = channel
        return channel

    def _channels(self, rooms: Collection[str]) -> list[str]:
        """Where a message for members of ``rooms`` is published (see module docstring)."""
        if not rooms:
            return [self.channel]
        channels = []
        for room in rooms:
            if is_sid_like(room):
                return [self.channel]
            channels.append(self._room_channel(room))
        return channels

    # Subscriptions follow membership: first local member in, last one out.

    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        known = self.rooms
        for room in rooms:
            if room not in known and room != sid and not is_sid_like(room):
                self.broker._want(self._room_channel(room), self)
        super().add_all(sid, rooms)

    def delete(self, sid: str, room: str) -> None:
        super().delete(sid, room)
        if room not in self.rooms and room != sid and not is_sid_like(room):
            self.broker._unwant(self._room_channel(room))

    def delete_all(self, sid: str) -> None:
        joined = self.sids.get(sid)
        rooms = tuple(joined) if joined else ()
        super().delete_all(sid)
        known = self.rooms
        for room in rooms:
            if room not in known and room != sid and not is_sid_like(room):
                self.broker._unwant(self._room_channel(room))

    def subscribed(self) -> asyncio.Future[None] | None:
        return self.broker.subscribed()

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
            remote = [room for room in rooms if room not in local]
            if not remote:
                return
            channels = self._channels(remote)
            nodes = self.broker.nodes
            if len(channels) >= WIDE_EMIT_ROOMS and nodes is not None and len(channels) >= nodes:
                # A wide emit (a user:status to 50 contacts): one copy per process on the
                # namespace channel costs Redis and the receivers less than one per room.
                channels = [self.channel]
        else:
            channels = [self.channel]
        self.broker.publish_broadcast(channels, frames, rooms, except_rooms, except_sids, origin)

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
        # Only members of ``leave`` are affected: their processes hold those channels,
        # and later broadcasts to those rooms follow the command on the same channel.
        self.broker.publish_command(
            self._channels(leave) if leave else [self.channel],
            {"op": "leave", "rooms": list(rooms), "leave": list(leave)},
        )

    def disconnect_sockets(self, rooms: Collection[str]) -> None:
        self.disconnect_local(rooms)
        self.broker.publish_command(
            self._channels(rooms), {"op": "disconnect", "rooms": list(rooms)}
        )

    async def fetch_sids(self, rooms: Collection[str] = _EMPTY) -> set[str]:
        """Members of ``rooms`` on every process; TimeoutError if a node does not answer."""
        local = self.sockets(rooms)
        return local | await self.broker.request_sids(self.channel, rooms)

    async def fetch_room_size(self, room: str) -> int:
        return len(await self.fetch_sids((room,)))

    async def close(self) -> None:
        self.broker._adapters.pop(self.channel, None)
        self.broker._unwant(self.channel)
