"""In-process key/value store for a single server process with no Redis."""

from __future__ import annotations

import time
from typing import Any


class MemoryStore:
    """Dict-backed store with lazy expiry; same semantics as the Redis store."""

    kind = "memory"

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._data: dict[str, Any] = {}
        self._expiry: dict[str, float] = {}

    def _alive(self, key: str) -> bool:
        deadline = self._expiry.get(key)
        if deadline is not None and deadline <= self._clock():
            self._data.pop(key, None)
            self._expiry.pop(key, None)
            return False
        return key in self._data

    def _touch(self, key: str, ttl_s: float | None) -> None:
        if ttl_s is not None:
            self._expiry[key] = self._clock() + ttl_s

    async def ping(self) -> bool:
        return True

    async def get(self, key: str) -> str | None:
        if not self._alive(key):
            return None
        value = self._data[key]
        return value if isinstance(value, str) else None

    async def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        self._data[key] = value
        self._expiry.pop(key, None)
        self._touch(key, ttl_s)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._data.pop(key, None)
            self._expiry.pop(key, None)

    async def incr_window(self, key: str, window_s: float) -> tuple[int, int]:
        if not self._alive(key):
            self._data[key] = 0
            self._touch(key, window_s)
        self._data[key] += 1
        left = max(0, int((self._expiry[key] - self._clock()) * 1000))
        return self._data[key], left

    async def hset(self, key: str, mapping: dict[str, str], ttl_s: float | None = None) -> None:
        self._hset(key, mapping, ttl_s)

    def _hset(self, key: str, mapping: dict[str, str], ttl_s: float | None = None) -> None:
        if not self._alive(key):
            self._data[key] = {}
        self._data[key].update(mapping)
        self._touch(key, ttl_s)

    async def hgetall(self, key: str) -> dict[str, str]:
        return self._hgetall(key)

    def _hgetall(self, key: str) -> dict[str, str]:
        if not self._alive(key):
            return {}
        return {k: str(v) for k, v in self._data[key].items()}

    async def hdel(self, key: str, *fields: str) -> None:
        self._hdel(key, *fields)

    def _hdel(self, key: str, *fields: str) -> None:
        if self._alive(key):
            for name in fields:
                self._data[key].pop(name, None)

    def _expire(self, key: str, ttl_s: float) -> None:
        if self._alive(key):
            self._touch(key, ttl_s)

    async def hincrby(self, key: str, field: str, amount: int, ttl_s: float | None = None) -> int:
        if not self._alive(key):
            self._data[key] = {}
        bucket = self._data[key]
        bucket[field] = int(bucket.get(field, 0)) + amount
        self._touch(key, ttl_s)
        return int(bucket[field])

    async def sadd(self, key: str, *members: str) -> None:
        if not self._alive(key):
            self._data[key] = set()
        self._data[key].update(members)

    async def srem(self, key: str, *members: str) -> None:
        if self._alive(key):
            self._data[key].difference_update(members)

    async def smembers(self, key: str) -> set[str]:
        if not self._alive(key):
            return set()
        return set(self._data[key])

    def pipeline(self) -> MemoryPipeline:
        return MemoryPipeline(self)

    async def close(self) -> None:
        self._data.clear()
        self._expiry.clear()


class MemoryPipeline:
    """Commands of one :meth:`MemoryStore.pipeline`, run in order by ``execute``."""

    __slots__ = ("_commands", "_store")

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._commands: list[tuple[Any, tuple[Any, ...]]] = []

    def hset(self, key: str, mapping: dict[str, str], ttl_s: float | None = None) -> None:
        self._commands.append((self._store._hset, (key, mapping, ttl_s)))

    def hgetall(self, key: str) -> None:
        self._commands.append((self._store._hgetall, (key,)))

    def hdel(self, key: str, field: str) -> None:
        self._commands.append((self._store._hdel, (key, field)))

    def expire(self, key: str, ttl_s: float) -> None:
        self._commands.append((self._store._expire, (key, ttl_s)))

    async def execute(self) -> list[Any]:
        commands, self._commands = self._commands, []
        return [run(*args) for run, args in commands]
