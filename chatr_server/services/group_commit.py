"""Group commit: many concurrent writers, one database round trip.

Callers ``await submit(args)`` and get their own result row. While a flush
is in flight, new submissions queue up; when it finishes, everything queued
goes out in the next single statement (at most ``max_batch`` at a time). At
low load a write leaves at once (no timer, no added latency); under load the
batches grow by themselves, which is what makes the database side cheap:
one statement, one transaction, one commit for the whole batch.

Submissions keep their order inside a batch, and batches run one after the
other, so writes from one connection (which awaits each result before the
next) are stored in arrival order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# Large enough to amortise a commit; small enough to keep one batch's latency low.
DEFAULT_MAX_BATCH = 128


class GroupCommit(Generic[T]):
    def __init__(
        self,
        run_batch: Callable[[list[tuple[Any, ...]]], Awaitable[Sequence[T]]],
        run_one: Callable[[tuple[Any, ...]], Awaitable[T]],
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        """``run_batch`` writes many argument tuples in one statement and returns one
        result per tuple, in order; ``run_one`` is the fallback for a failed batch."""
        self._run_batch = run_batch
        self._run_one = run_one
        self._max_batch = max_batch
        self._queue: list[tuple[tuple[Any, ...], asyncio.Future[T]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def submit(self, args: tuple[Any, ...]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((args, future))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush_all())
        return await future

    async def _flush_all(self) -> None:
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                await self._flush(batch)
        finally:
            self._flushing = None

    async def _flush(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[T]]]) -> None:
        if len(batch) == 1:
            args, future = batch[0]
            await self._settle_one(args, future)
            return
        try:
            results = await self._run_batch([args for args, _ in batch])
        except Exception:
            # One bad row (or a deadlock with another node) must not fail its
            # neighbours: retry each on its own.
            log.warning(
                "batched write failed; retrying %d writes one by one", len(batch), exc_info=True
            )
            for args, future in batch:
                await self._settle_one(args, future)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _settle_one(self, args: tuple[Any, ...], future: asyncio.Future[T]) -> None:
        try:
            result = await self._run_one(args)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(result)
