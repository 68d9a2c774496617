"""GroupCommit batches concurrent writes, keeps their order, isolates failures, sheds load."""

from __future__ import annotations

import asyncio

import pytest

from chatr_server.services.group_commit import BUSY_MESSAGE, GroupCommit, Overloaded


def recorder(delay: float = 0.01):
    batches: list[list[int]] = []

    async def run_batch(rows):
        batches.append([r[0] for r in rows])
        await asyncio.sleep(delay)
        return [r[0] * 10 for r in rows]

    async def run_one(args):
        batches.append([args[0]])
        return args[0] * 10

    return batches, run_batch, run_one


async def test_concurrent_submissions_share_batches_in_order():
    batches, run_batch, run_one = recorder()
    gc = GroupCommit(run_batch, run_one, max_batch=8, window=0)
    assert await gc.submit((-1,)) == -10
    assert batches == [[-1]]  # a lone write leaves at once, on its own
    batches.clear()
    results = await asyncio.gather(*(gc.submit((i,)) for i in range(20)))
    assert results == [i * 10 for i in range(20)]
    assert [i for b in batches for i in b] == list(range(20))  # arrival order kept
    assert [len(b) for b in batches] == [8, 8, 4]


async def test_window_collects_writes_that_arrive_shortly_after_the_first():
    batches, run_batch, run_one = recorder(delay=0)
    gc = GroupCommit(run_batch, run_one, window=0.05)
    first = gc.submit((1,))
    await asyncio.sleep(0.01)  # inside the window: joins the same batch
    second = gc.submit((2,))
    assert await asyncio.gather(first, second) == [10, 20]
    assert batches == [[1, 2]]


async def test_writes_queued_during_a_flush_still_get_their_full_window():
    """The next batch leaves a window after its first write, not when the flush returns."""
    batches, run_batch, run_one = recorder(delay=0.2)
    gc = GroupCommit(run_batch, run_one, window=0.2)
    first = gc.submit((1,))  # its window closes at 0.2; batch [1] is in flight until 0.4
    await asyncio.sleep(0.3)
    second = gc.submit((2,))  # opens the next window: it closes at 0.5
    await asyncio.sleep(0.15)  # the flight is over, the window is not
    third = gc.submit((3,))
    assert await asyncio.gather(first, second, third) == [10, 20, 30]
    assert batches == [[1], [2, 3]]


async def test_full_batch_leaves_without_waiting_for_the_window():
    batches, run_batch, run_one = recorder(delay=0)
    gc = GroupCommit(run_batch, run_one, max_batch=4, window=30)
    results = await asyncio.wait_for(asyncio.gather(*(gc.submit((i,)) for i in range(4))), 1)
    assert results == [0, 10, 20, 30]
    assert batches == [[0, 1, 2, 3]]


async def test_failed_batch_falls_back_to_single_writes():
    async def run_batch(rows):
        raise RuntimeError("deadlock detected")

    async def run_one(args):
        if args[0] == 3:
            raise ValueError("bad row")
        return args[0]

    gc = GroupCommit(run_batch, run_one, window=0)
    results = await asyncio.gather(*(gc.submit((i,)) for i in range(6)), return_exceptions=True)
    assert results[:3] == [0, 1, 2]
    assert isinstance(results[3], ValueError)
    assert results[4:] == [4, 5]


async def test_lone_failed_write_reports_its_error():
    async def run_batch(rows):
        raise ConnectionError("database down")

    async def run_one(args):  # pragma: no cover - not used for a batch of one
        raise AssertionError

    gc = GroupCommit(run_batch, run_one, window=0)
    with pytest.raises(ConnectionError):
        await gc.submit((1,))


async def test_full_queue_refuses_new_writes_and_recovers():
    release = asyncio.Event()

    async def run_batch(rows):
        await release.wait()
        return [r[0] for r in rows]

    gc = GroupCommit(run_batch, run_batch, max_batch=2, window=0, max_pending=3)
    in_flight = [gc.submit((i,)) for i in range(2)]  # leave at once: a full batch
    await asyncio.sleep(0)
    queued = [gc.submit((i,)) for i in range(2, 5)]
    assert gc.pending == 3
    with pytest.raises(Overloaded) as refused:
        gc.submit((5,))
    assert refused.value.message == BUSY_MESSAGE
    release.set()
    assert await asyncio.gather(*in_flight, *queued) == [0, 1, 2, 3, 4]
    assert await gc.submit((6,)) == 6  # accepted again once the queue drained


async def test_wait_idle_flushes_what_is_waiting_for_the_window():
    batches, run_batch, run_one = recorder(delay=0.01)
    gc = GroupCommit(run_batch, run_one, window=30)  # the window would hold them for 30 s
    pending = [gc.submit((i,)) for i in range(3)]
    await asyncio.wait_for(gc.wait_idle(), 1)
    assert batches == [[0, 1, 2]]
    assert [f.result() for f in pending] == [0, 10, 20]
    assert gc.pending == 0
