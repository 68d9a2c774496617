"""Redis-backed key/value store (``redis.asyncio``), shared across processes.

Outages are reported, not hidden: a command that fails because Redis is
unreachable raises (callers fall back to local knowledge or fail open) and
tells the app's dependency monitor. While the monitor has Redis down, commands
fail at once with :class:`DependencyUnavailable` instead of each trying to
connect, so a Redis outage costs no latency; the monitor's probe (``ping``)
notices when it is back.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chatr_server.services.dependencies import REDIS, DependencyMonitor, DependencyUnavailable

log = logging.getLogger(__name__)

# A command waits at most this long for Redis (a stopped server must not hang requests).
SOCKET_TIMEOUT_S = 3.0
_OUTAGE = (RedisConnectionError, RedisTimeoutError, OSError)
# Commands in flight at once, below redis-py's connection pool size (100), whose
# overflow fails at once with MaxConnectionsError — which reads as Redis being down (a
# reconnect storm's presence pipelines did exactly that). Beyond it, commands wait.
MAX_IN_FLIGHT = 64

# INCR and set the window's expiry on the first hit, in one round trip.
_INCR_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
"""


# The hashes of several keys in one command (a single Redis only: keys of several slots).
_HGETALL_MANY = """
local out = {}
for i = 1, #KEYS do out[i] = redis.call('HGETALL', KEYS[i]) end
return out
"""


class RedisStore:
    kind = "redis"

    def __init__(
        self,
        url: str,
        prefix: str,
        monitor: DependencyMonitor | None = None,
        *,
        cluster: bool = False,
    ) -> None:
        """``cluster``: ``url`` names any node of a Redis Cluster. Every command here
        touches one key (a multi-key DELETE is split by slot), so nothing needs a hash tag."""
        client = RedisCluster if cluster else Redis
        self._redis = client.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=SOCKET_TIMEOUT_S,
            socket_timeout=SOCKET_TIMEOUT_S,
            # One immediate retry (a connection left stale by a Redis restart), not
            # redis-py's default ten with backoff, which hold a request for seconds.
            retry=Retry(NoBackoff(), 1),
        )
        self._prefix = prefix
        self._monitor = monitor
        self._incr_window = self._redis.register_script(_INCR_WINDOW)
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def _run(self, command: Any) -> Any:
        """Await one command; an outage is reported to the monitor and raised."""
        monitor = self._monitor
        if monitor is not None and not monitor.is_up(REDIS):
            command.close()
            raise DependencyUnavailable(REDIS)
        try:
            async with self._slots:
                return await command
        except _OUTAGE as exc:
            if monitor is not None:
                monitor.failed(REDIS, exc)
            raise

    @property
    def client(self) -> Redis | RedisCluster:
        """The raw client, for the fan-out adapter."""
        return self._redis

    def _k(self, key: str) -> str:
        return self._prefix + key

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def get(self, key: str) -> str | None:
        return await self._run(self._redis.get(self._k(key)))

    async def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        if ttl_s is None:
            await self._run(self._redis.set(self._k(key), value))
        else:
            await self._run(self._redis.set(self._k(key), value, px=max(1, int(ttl_s * 1000))))

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._run(self._redis.delete(*(self._k(k) for k in keys)))

    async def incr_window(self, key: str, window_s: float) -> tuple[int, int]:
        count, ttl = await self._run(
            self._incr_window(keys=[self._k(key)], args=[int(window_s * 1000)])
        )
        return int(count), int(ttl)

    async def hset(self, key: str, mapping: dict[str, str], ttl_s: float | None = None) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(self._k(key), mapping=mapping)
        if ttl_s is not None:
            pipe.pexpire(self._k(key), int(ttl_s * 1000))
        await self._run(pipe.execute())

    async def hgetall(self, key: str) -> dict[str, str]:
        return await self._run(self._redis.hgetall(self._k(key)))

    async def hdel(self, key: str, *fields: str) -> None:
        if fields:
            await self._run(self._redis.hdel(self._k(key), *fields))

    async def hincrby(self, key: str, field: str, amount: int, ttl_s: float | None = None) -> int:
        pipe = self._redis.pipeline(transaction=True)
        pipe.hincrby(self._k(key), field, amount)
        if ttl_s is not None:
            pipe.pexpire(self._k(key), int(ttl_s * 1000))
        result = await self._run(pipe.execute())
        return int(result[0])

    async def sadd(self, key: str, *members: str) -> None:
        if members:
            await self._run(self._redis.sadd(self._k(key), *members))

    async def srem(self, key: str, *members: str) -> None:
        if members:
            await self._run(self._redis.srem(self._k(key), *members))

    async def smembers(self, key: str) -> set[str]:
        return set(await self._run(self._redis.smembers(self._k(key))))

    def pipeline(self) -> RedisPipeline:
        return RedisPipeline(self)

    async def close(self) -> None:
        await self._redis.aclose()


class RedisPipeline:
    """One redis-py pipeline: a MULTI transaction on a single Redis; on a cluster,
    redis-py splits it by shard (keys of different slots cannot share a transaction)
    and sends each shard its commands at once.

    On a single Redis, consecutive :meth:`hgetall` calls leave as one script call
    that answers them all: a connect reading 50 contacts' records was 50 commands,
    each packed and answered (twice, inside MULTI) through redis-py's Python code.
    """

    __slots__ = ("_pipe", "_plan", "_reads", "_sent", "_single", "_store")

    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self._single = not isinstance(store.client, RedisCluster)
        self._pipe = store.client.pipeline(transaction=self._single)
        # Per queued command, where its result is among redis-py's: (index, -1) for
        # a result of its own, (index, n) for the n-th of a script's; None for a write.
        self._plan: list[tuple[int, int] | None] = []
        self._sent = 0
        self._reads: list[str] = []  # keys of the hgetall calls not queued yet

    def _queue_reads(self) -> None:
        keys, self._reads = self._reads, []
        if self._single and len(keys) > 1:
            self._pipe.eval(_HGETALL_MANY, len(keys), *keys)
            self._plan.extend((self._sent, n) for n in range(len(keys)))
            self._sent += 1
            return
        for key in keys:
            self._pipe.hgetall(key)
            self._plan.append((self._sent, -1))
            self._sent += 1

    def hset(self, key: str, mapping: dict[str, str], ttl_s: float | None = None) -> None:
        self._queue_reads()
        name = self._store._k(key)
        self._pipe.hset(name, mapping=mapping)
        self._sent += 1
        if ttl_s is not None:
            self._pipe.pexpire(name, int(ttl_s * 1000))
            self._sent += 1
        self._plan.append(None)

    def hgetall(self, key: str) -> None:
        self._reads.append(self._store._k(key))

    def hdel(self, key: str, field: str) -> None:
        self._queue_reads()
        self._pipe.hdel(self._store._k(key), field)
        self._plan.append(None)
        self._sent += 1

    def expire(self, key: str, ttl_s: float) -> None:
        self._queue_reads()
        self._pipe.pexpire(self._store._k(key), int(ttl_s * 1000))
        self._plan.append(None)
        self._sent += 1

    async def execute(self) -> list[Any]:
        self._queue_reads()
        raw = await self._store._run(self._pipe.execute())
        results: list[Any] = []
        for place in self._plan:
            if place is None:
                results.append(None)
            elif place[1] < 0:
                results.append(raw[place[0]])
            else:
                pairs = iter(raw[place[0]][place[1]])
                results.append(dict(zip(pairs, pairs, strict=False)))
        return results
