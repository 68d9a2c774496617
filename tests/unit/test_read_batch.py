"""ReadBatcher: concurrent lookups share a query, each gets its own answer; no window."""

from __future__ import annotations

import asyncio

import pytest

from chatr_server.services.read_batch import ReadBatcher
from tests.helpers import until


class Lookups:
    """``run`` records each batch; while ``gate`` is clear, batches stay in flight."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: Exception | None = None
        self._started = asyncio.Condition()

    async def run(self, keys: list[int]) -> list[int]:
        self.batches.append(list(keys))
        async with self._started:
            self._started.notify_all()
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return [k * 10 for k in keys]

    async def started(self, count: int) -> None:
        """Until ``count`` batches have been sent."""
        async with self._started:
            await self._started.wait_for(lambda: len(self.batches) >= count)


async def test_a_lone_lookup_leaves_at_once_and_concurrent_ones_share_a_query():
    lookups = Lookups()
    batcher = ReadBatcher(lookups.run)
    assert await batcher.get(1) == 10
    assert await asyncio.gather(*(batcher.get(k) for k in range(2, 7))) == [20, 30, 40, 50, 60]
    assert lookups.batches == [[1], [2, 3, 4, 5, 6]]


async def test_lookups_queue_while_batches_are_in_flight():
    lookups = Lookups()
    lookups.gate.clear()
    batcher = ReadBatcher(lookups.run, max_batch=3, max_in_flight=2)
    first = asyncio.ensure_future(batcher.get(1))
    await lookups.started(1)
    second = asyncio.ensure_future(batcher.get(2))
    await lookups.started(2)
    waiting = [asyncio.ensure_future(batcher.get(k)) for k in range(3, 8)]
    await until(lambda: len(batcher._queue) == 5)  # the five gets reached their await
    assert lookups.batches == [[1], [2]]  # two in flight; the rest wait for one to end
    lookups.gate.set()
    assert await asyncio.gather(first, second, *waiting) == [k * 10 for k in range(1, 8)]
    assert lookups.batches == [[1], [2], [3, 4, 5], [6, 7]]


async def test_a_failed_batch_fails_each_of_its_lookups_and_the_next_one_runs():
    lookups = Lookups()
    batcher = ReadBatcher(lookups.run)
    lookups.fail = ConnectionError("database gone")
    results = await asyncio.gather(*(batcher.get(k) for k in (1, 2)), return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError, ConnectionError]
    lookups.fail = None
    assert await batcher.get(3) == 30


async def test_a_short_answer_is_an_error_not_a_wrong_one():
    async def short(keys: list[int]) -> list[int]:
        return keys[:-1]

    batcher = ReadBatcher(short)
    with pytest.raises(RuntimeError, match="got 1 results"):
        await asyncio.gather(batcher.get(1), batcher.get(2))


async def test_a_cancelled_caller_does_not_disturb_the_others():
    lookups = Lookups()
    lookups.gate.clear()
    batcher = ReadBatcher(lookups.run)
    gone = asyncio.ensure_future(batcher.get(1))
    kept = asyncio.ensure_future(batcher.get(2))
    await lookups.started(1)
    gone.cancel()
    lookups.gate.set()
    assert await kept == 20
    assert gone.cancelled()
