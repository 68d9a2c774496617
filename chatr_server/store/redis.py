"""Redis-backed key/value store (``redis.asyncio``), shared across processes."""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# INCR and set the window's expiry on the first hit, in one round trip.
_INCR_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}
"""


class RedisStore:
    kind = "redis"

    def __init__(self, url: str, prefix: str) -> None:
        self._redis = Redis.from_url(url, decode_responses=True, socket_connect_timeout=3)
        self._prefix = prefix
        self._incr_window = self._redis.register_script(_INCR_WINDOW)

    @property
    def client(self) -> Redis:
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
        return await self._redis.get(self._k(key))

    async def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        if ttl_s is None:
            await self._redis.set(self._k(key), value)
        else:
            await self._redis.set(self._k(key), value, px=max(1, int(ttl_s * 1000)))

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._redis.delete(*(self._k(k) for k in keys))

    async def incr_window(self, key: str, window_s: float) -> tuple[int, int]:
        count, ttl = await self._incr_window(keys=[self._k(key)], args=[int(window_s * 1000)])
        return int(count), int(ttl)

    async def hset(self, key: str, mapping: dict[str, str], ttl_s: float | None = None) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._k(key), mapping=mapping)
            if ttl_s is not None:
                pipe.pexpire(self._k(key), int(ttl_s * 1000))
            await pipe.execute()

    async def hgetall(self, key: str) -> dict[str, str]:
        return await self._redis.hgetall(self._k(key))

    async def hdel(self, key: str, *fields: str) -> None:
        if fields:
            await self._redis.hdel(self._k(key), *fields)

    async def hincrby(self, key: str, field: str, amount: int, ttl_s: float | None = None) -> int:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(self._k(key), field, amount)
            if ttl_s is not None:
                pipe.pexpire(self._k(key), int(ttl_s * 1000))
            result = await pipe.execute()
        return int(result[0])

    async def sadd(self, key: str, *members: str) -> None:
        if members:
            await self._redis.sadd(self._k(key), *members)

    async def srem(self, key: str, *members: str) -> None:
        if members:
            await self._redis.srem(self._k(key), *members)

    async def smembers(self, key: str) -> set[str]:
        return set(await self._redis.smembers(self._k(key)))

    async def close(self) -> None:
        await self._redis.aclose()
