"""Concurrent lookups of one kind share a database round trip (group commit for reads).

Callers ``await get(key)`` and get their own result. A lookup arriving while the
batcher is idle leaves at the end of the current event-loop pass (with whatever
else arrived in that pass): no window, no timer, no added latency. While
``max_in_flight`` batches are running, new keys queue up and leave together as
one query when a batch finishes, so under a storm (thousands of sockets
connecting at once) the number of queries follows the database's speed, not
the number of callers: the fixed cost of a statement is paid once per batch.

A batch that fails (PostgreSQL down, a bug) fails every lookup in it with the
same exception, which each caller handles as it would its own query's failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

# Large enough to amortise a statement; small enough to keep one batch's latency low.
DEFAULT_MAX_BATCH = 256
# Batches running at once: two keep the database busy while the next one fills.
DEFAULT_MAX_IN_FLIGHT = 2


class ReadBatcher(Generic[K, V]):
    def __init__(
        self,
        run: Callable[[list[K]], Awaitable[Sequence[V]]],
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        on_batch: Callable[[int], object] | None = None,
    ) -> None:
        """``run(keys)`` answers one result per key, in order. ``on_batch(size)`` is
        told the size of every batch (tests and metrics)."""
        self._run = run
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._on_batch = on_batch
        self._queue: list[tuple[K, asyncio.Future[V]]] = []
        self._in_flight = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, key: K) -> V:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V] = loop.create_future()
        self._queue.append((key, future))
        if not self._scheduled and self._in_flight < self._max_in_flight:
            # Not now: lookups made in this same loop pass join the batch.
            self._scheduled = True
            loop.call_soon(self._start)
        return await future

    def _start(self) -> None:
        self._scheduled = False
        while self._queue and self._in_flight < self._max_in_flight:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._flush(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush(self, batch: list[tuple[K, asyncio.Future[V]]]) -> None:
        try:
            if self._on_batch is not None:
                self._on_batch(len(batch))
            results = await self._run([key for key, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"batch of {len(batch)} lookups got {len(results)} results")
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
        finally:
            self._in_flight -= 1
            if self._queue:
                self._start()
