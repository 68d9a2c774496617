"""Prometheus metrics of the whole node (``GET /metrics``).

One :class:`Metrics` per app, made in the app factory and handed to whoever
records something. Label values come only from fixed sets (event names of the
registered handlers, route templates, the reasons below): never an id.

The message hot path pays only plain integer increments: events received are
counted by the realtime server (``Namespace.received``), stored messages in
:class:`StoredCounts`, and the ack latencies and batch sizes in
:class:`BucketCounts` (a bisect and two additions; prometheus-client's own
``observe()`` costs about 2.6 µs under its lock, measurable at thousands of
messages a second), and the garbage collector's pauses in :class:`GcPauses`.
Those integers, and everything that is a state rather than an event
(connections by transport, the database pool, dependencies, broadcasts the
Redis adapter lost, commands Redis refused), are copied into the metrics by
:meth:`Metrics.refresh`: at scrape time, and with ``--workers`` also once a
second, so every worker's share is current in the shared files.

``serve --workers N``: prometheus-client's multiprocess mode. The supervisor
points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh private folder before it starts
the workers; each worker's values live in memory-mapped files there, and a
scrape that lands on any worker sums all of them (counters and histograms
include workers that exited; gauges count live workers only, ``livesum`` /
``livemin``; the supervisor calls :func:`worker_exited` for a dead worker).
Chosen over our own aggregation because it needs no traffic between workers
and a scrape never waits on another process. The library's process and GC
collectors then describe the worker that answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import tempfile
import time
from bisect import bisect_left
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder

from chatr_server.errors import ServiceError
from chatr_server.services.dependencies import is_dependency_outage
from chatr_server.services.group_commit import Overloaded
from chatr_server.services.message_input import InvalidPayload
from chatr_server.services.messaging import StoredCounts

if TYPE_CHECKING:
    import asyncpg

    from chatr_server.realtime import SocketServer
    from chatr_server.services.dependencies import DependencyMonitor

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
# With --workers: how often each worker writes its states to the shared files.
REFRESH_EVERY_S: Final = 1.0

OTHER: Final = "other"
UNMATCHED: Final = "unmatched"
HTTP_METHODS: Final = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
TRANSPORTS: Final = ("polling", "websocket")
#: Why a ``message:send`` / group send was not stored.
REFUSAL_REASONS: Final = ("blocked", "invalid", "forbidden", "overloaded", "unavailable", "error")
POOL_STATES: Final = ("idle", "in_use")

ACK_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128)
GC_PAUSE_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
HTTP_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_multiprocess_dir() -> str:
    """Supervisor: a fresh private folder for the workers' metric files (inherited env)."""
    path = tempfile.mkdtemp(prefix="chatr-metrics-")
    os.environ[MULTIPROC_ENV] = path
    return path


def worker_exited(path: str, pid: int) -> None:
    """Supervisor: drop a dead worker's live gauges (its counters still count)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, path)


def refusal_reason(exc: BaseException) -> str:
    """The ``reason`` label of a send that failed with ``exc``."""
    if isinstance(exc, Overloaded):
        return "overloaded"
    if is_dependency_outage(exc) is not None:
        return "unavailable"
    if isinstance(exc, InvalidPayload):
        return "invalid"
    if isinstance(exc, ServiceError) and exc.status == 403:
        return "forbidden"
    return "error"


class BucketCounts:
    """A histogram's observations as plain integers, folded into it by ``refresh``.

    ``observe`` is on the message hot path: one bisect and two additions. ``fold``
    adds what arrived since the last fold to the prometheus histogram's buckets
    and sum in one step each (prometheus-client has no public bulk add, hence its
    bucket values are reached directly; pinned in setup.cfg).
    """

    __slots__ = ("_bounds", "_counts", "_histogram", "_seen", "_seen_sum", "_sum")

    def __init__(self, histogram: Histogram, bounds: Iterable[float]) -> None:
        self._bounds = tuple(bounds)
        self._counts = [0] * (len(self._bounds) + 1)  # the last one is +Inf
        self._seen = list(self._counts)
        self._sum = 0.0
        self._seen_sum = 0.0
        self._histogram = histogram

    def observe(self, value: float) -> None:
        self._counts[bisect_left(self._bounds, value)] += 1
        self._sum += value

    def fold(self) -> None:
        buckets = self._histogram._buckets
        for i, count in enumerate(self._counts):
            if count != self._seen[i]:
                buckets[i].inc(count - self._seen[i])
                self._seen[i] = count
        if self._sum != self._seen_sum:
            self._histogram._sum.inc(self._sum - self._seen_sum)
            self._seen_sum = self._sum


class GcPauses:
    """How long each garbage collection stopped the process, by generation.

    A collection stops the event loop: at thousands of messages a second a long one
    is a latency spike, or sends refused once the write queue fills
    (docs/benchmarks.md). Timed through ``gc.callbacks`` (two clock reads per
    collection), counted as plain integers and folded in at scrape time. Only
    while :meth:`timing` is entered: the callback list is the interpreter's.
    """

    __slots__ = ("_generations", "_started")

    def __init__(self, histogram: Histogram) -> None:
        self._generations = tuple(
            BucketCounts(histogram.labels(str(g)), GC_PAUSE_BUCKETS) for g in range(3)
        )
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._generations[info["generation"]].observe(time.perf_counter() - self._started)

    @contextlib.contextmanager
    def timing(self) -> Iterator[None]:
        gc.callbacks.append(self)
        try:
            yield
        finally:
            gc.callbacks.remove(self)

    def fold(self) -> None:
        for counts in self._generations:
            counts.fold()


class Metrics:
    """The node's metric objects and the sources read at scrape time."""

    def __init__(self, multiproc_dir: str | None = None) -> None:
        self._dir = multiproc_dir
        reg = CollectorRegistry(auto_describe=True)
        self._own = reg
        self._socket_connections = Gauge(
            "chatr_socket_connections",
            "Open Engine.IO connections by current transport",
            ["transport"],
            registry=reg,
            multiprocess_mode="livesum",
        )
        self._events = Counter(
            "chatr_socketio_events",
            "Client-to-server Socket.IO events by name (names without a handler: other)",
            ["event"],
            registry=reg,
        )
        stored = Counter(
            "chatr_messages_stored",
            "Messages stored (new rows; repeated temp ids excluded)",
            ["kind"],
            registry=reg,
        )
        self.stored = StoredCounts()
        self._stored_direct = stored.labels("direct")
        self._stored_group = stored.labels("group")
        self._seen_stored = (0, 0)
        self.ack_seconds = BucketCounts(
            Histogram(
                "chatr_message_ack_seconds",
                "message:send handler start to message:sent written",
                registry=reg,
                buckets=ACK_BUCKETS,
            ),
            ACK_BUCKETS,
        )
        self.batch_size = BucketCounts(
            Histogram(
                "chatr_group_commit_batch_size",
                "Direct messages stored per group-commit statement",
                registry=reg,
                buckets=BATCH_BUCKETS,
            ),
            BATCH_BUCKETS,
        )
        self.gc_pauses = GcPauses(
            Histogram(
                "chatr_gc_pause_seconds",
                "Garbage-collector pauses of this process, by generation",
                ["generation"],
                registry=reg,
                buckets=GC_PAUSE_BUCKETS,
            )
        )
        refused = Counter(
            "chatr_sends_refused",
            "Message sends not stored, by reason",
            ["reason"],
            registry=reg,
        )
        self._refused = {reason: refused.labels(reason) for reason in REFUSAL_REASONS}
        self._http_requests = Counter(
            "chatr_http_requests",
            "HTTP requests by method, route template and status (Socket.IO excluded)",
            ["method", "route", "status"],
            registry=reg,
        )
        self._http_duration = Histogram(
            "chatr_http_request_duration_seconds",
            "HTTP request duration by method and route template (Socket.IO excluded)",
            ["method", "route"],
            registry=reg,
            buckets=HTTP_BUCKETS,
        )
        self._pool = Gauge(
            "chatr_db_pool_connections",
            "PostgreSQL pool connections by state",
            ["state"],
            registry=reg,
            multiprocess_mode="livesum",
        )
        self._pool_max = Gauge(
            "chatr_db_pool_max_connections",
            "PostgreSQL pool size limit",
            registry=reg,
            multiprocess_mode="livesum",
        )
        self._adapter_dropped = Counter(
            "chatr_redis_adapter_dropped",
            "Broadcasts to other processes lost while Redis was unreachable",
            registry=reg,
        )
        self._redis_refused = Counter(
            "chatr_redis_commands_refused",
            "Fan-out and recovery-log commands Redis answered with an error (the rest went)",
            registry=reg,
        )
        self._dependency_up = Gauge(
            "chatr_dependency_up",
            "1 when the dependency answers (on every worker), else 0",
            ["dependency"],
            registry=reg,
            multiprocess_mode="livemin",
        )
        self._ready = Gauge(
            "chatr_ready",
            "1 when the node may take traffic (dependencies up, not draining), else 0",
            registry=reg,
            multiprocess_mode="livemin",
        )
        if multiproc_dir is None:
            self._scrape = reg
        else:
            from prometheus_client.multiprocess import MultiProcessCollector

            self._scrape = CollectorRegistry()
            MultiProcessCollector(self._scrape, multiproc_dir)
        ProcessCollector(registry=self._scrape)
        GCCollector(registry=self._scrape)

        self._pool_source: asyncpg.Pool | None = None
        self._monitor: DependencyMonitor | None = None
        self._sockets: SocketServer | None = None
        self._copied: list[_CopiedCount] = []
        self._ready_source: Callable[[], bool] | None = None
        self._seen_events: dict[tuple[str, str], int] = {}

    @property
    def multiprocess(self) -> bool:
        return self._dir is not None

    # ---- recording ---------------------------------------------------------

    def refused(self, reason: str) -> None:
        self._refused[reason].inc()

    def send_failed(self, exc: BaseException) -> None:
        self._refused[refusal_reason(exc)].inc()

    @contextlib.contextmanager
    def counting_refusals(self) -> Iterator[None]:
        """Count a send that fails inside the block (and let the failure go on)."""
        try:
            yield
        except Exception as exc:
            self.send_failed(exc)
            raise

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        if method not in HTTP_METHODS:
            method = OTHER
        self._http_requests.labels(method, route, str(status)).inc()
        self._http_duration.labels(method, route).observe(seconds)

    # ---- states read at scrape time ---------------------------------------

    def watch(
        self,
        *,
        pool: asyncpg.Pool | None = None,
        monitor: DependencyMonitor | None = None,
        sockets: SocketServer | None = None,
        broker_lost: Callable[[], int] | None = None,
        broker_refused: Callable[[], int] | None = None,
        ready: Callable[[], bool] | None = None,
    ) -> None:
        """Name the owners of the states :meth:`refresh` reads (each optional)."""
        if pool is not None:
            self._pool_source = pool
        if monitor is not None:
            self._monitor = monitor
        if sockets is not None:
            self._sockets = sockets
        if broker_lost is not None:
            self._copied.append(_CopiedCount(self._adapter_dropped, broker_lost))
        if broker_refused is not None:
            self._copied.append(_CopiedCount(self._redis_refused, broker_refused))
        if ready is not None:
            self._ready_source = ready

    def refresh(self) -> None:
        """Copy the watched states into the metrics (cheap: no I/O)."""
        sockets = self._sockets
        if sockets is not None:
            counts = dict.fromkeys(TRANSPORTS, 0)
            for session in list(sockets.engine.sessions.values()):
                if not session.closed and session.transport in counts:
                    counts[session.transport] += 1
            for transport, count in counts.items():
                self._socket_connections.labels(transport).set(count)
            for ns in sockets.namespaces.values():
                self._count_events(ns.name, OTHER, ns.unknown_events)
                for event, count in list(ns.received.items()):
                    self._count_events(ns.name, event, count)
        direct, group = self.stored.direct, self.stored.group
        seen_direct, seen_group = self._seen_stored
        if direct > seen_direct:
            self._stored_direct.inc(direct - seen_direct)
        if group > seen_group:
            self._stored_group.inc(group - seen_group)
        self._seen_stored = (direct, group)
        self.ack_seconds.fold()
        self.batch_size.fold()
        self.gc_pauses.fold()
        pool = self._pool_source
        if pool is not None:
            size, idle = pool.get_size(), pool.get_idle_size()
            self._pool.labels("idle").set(idle)
            self._pool.labels("in_use").set(size - idle)
            self._pool_max.set(pool.get_max_size())
        for copied in self._copied:
            copied.refresh()
        monitor = self._monitor
        if monitor is not None:
            for name in monitor.names:
                self._dependency_up.labels(name).set(1 if monitor.is_up(name) else 0)
        if self._ready_source is not None:
            self._ready.set(1 if self._ready_source() else 0)

    def _count_events(self, namespace: str, event: str, count: int) -> None:
        key = (namespace, event)
        seen = self._seen_events.get(key)
        if seen is None or count > seen:
            self._events.labels(event).inc(count - (seen or 0))
            self._seen_events[key] = count

    async def probe(self) -> None:
        """Ask the monitor to probe every dependency now (an idle node notices outages)."""
        monitor = self._monitor
        if monitor is not None:
            await asyncio.gather(*(monitor.check(name) for name in monitor.names))

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """(body, content type) of a scrape, in the format ``accept`` asks for."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self._scrape), content_type


def route_label(request: web.Request) -> str:
    """The route template of a request (``/api/users/{username}``), never its raw path."""
    resource = request.match_info.route.resource
    return UNMATCHED if resource is None else resource.canonical


def metrics_middleware(metrics: Metrics, skip_prefixes: Iterable[str] = ()) -> Any:
    """Count and time every HTTP request except those under ``skip_prefixes`` (Socket.IO)."""
    skip = tuple(skip_prefixes)
    clock = time.perf_counter

    @web.middleware
    async def observe(request: web.Request, handler: Any) -> web.StreamResponse:
        route = route_label(request)
        if skip and route.startswith(skip):
            return await handler(request)
        started = clock()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = 499  # the client went away
            raise
        finally:
            metrics.observe_request(request.method, route, status, clock() - started)

    return observe


@contextlib.asynccontextmanager
async def refresh_forever(metrics: Metrics, every: float = REFRESH_EVERY_S) -> AsyncIterator[None]:
    """With --workers, refresh this worker's states in the shared files every ``every`` s.

    A single process needs no loop: its scrape refreshes what it reports.
    """
    if not metrics.multiprocess:
        yield
        return

    async def loop() -> None:
        while True:
            metrics.refresh()
            await asyncio.sleep(every)

    task = asyncio.get_running_loop().create_task(loop(), name="metrics-refresh")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class _CopiedCount:
    """A counter kept as a plain integer by its owner (the broker), copied into a
    Prometheus counter at scrape time: nothing on the path that counts."""

    __slots__ = ("_counter", "_read", "_seen")

    def __init__(self, counter: Counter, read: Callable[[], int]) -> None:
        self._counter, self._read = counter, read
        self._seen = read()

    def refresh(self) -> None:
        now = self._read()
        if now > self._seen:
            self._counter.inc(now - self._seen)
        self._seen = now
