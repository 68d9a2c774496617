"""The ephemeral key/value store behind presence, rate limits and flags.

Two implementations share this interface: Redis (``REDIS_URL`` set; shared by
every process and node) and an in-process one (nothing configured; one
process only). Keys are given without the deployment prefix; each store adds
its own prefix so test runs and deployments never see each other's keys.
"""

from __future__ import annotations

from typing import Any, Protocol


class StorePipeline(Protocol):
    """Commands queued, then sent in one round trip by :meth:`execute`.

    :meth:`execute` answers one result per queued command, in order (``None`` for
    a write). Commands run in queue order for each key; on a Redis Cluster,
    commands on keys of different slots run on their own shards, so there is no
    order between keys there (nor atomicity across them).
    """

    def hset(self, key: str, mapping: dict[str, str], ttl_s: float | None = None) -> None: ...

    def hgetall(self, key: str) -> None: ...

    def hdel(self, key: str, field: str) -> None: ...

    def expire(self, key: str, ttl_s: float) -> None:
        """Set an existing key's expiry (a missing key stays missing)."""

    async def execute(self) -> list[Any]: ...


class KeyValueStore(Protocol):
    kind: str

    async def ping(self) -> bool:
        """True when the store answers."""

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str, ttl_s: float | None = None) -> None: ...

    async def delete(self, *keys: str) -> None: ...

    async def incr_window(self, key: str, window_s: float) -> tuple[int, int]:
        """Count a hit in a fixed window starting at the first hit.

        Returns the count so far and the milliseconds left in the window.
        """

    async def hset(self, key: str, mapping: dict[str, str], ttl_s: float | None = None) -> None: ...

    async def hgetall(self, key: str) -> dict[str, str]: ...

    async def hdel(self, key: str, *fields: str) -> None: ...

    async def hincrby(self, key: str, field: str, amount: int, ttl_s: float | None = None) -> int:
        """Add to an integer hash field (and refresh the key's expiry when given)."""

    async def sadd(self, key: str, *members: str) -> None: ...

    async def srem(self, key: str, *members: str) -> None: ...

    async def smembers(self, key: str) -> set[str]: ...

    def pipeline(self) -> StorePipeline:
        """Queue several commands for one round trip (presence at connect)."""

    async def close(self) -> None: ...
