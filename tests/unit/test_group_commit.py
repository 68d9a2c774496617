"""GroupCommit batches concurrent writes, keeps their order, isolates failures, sheds load.

Windows run on a ManualClock: the tests say at which instant each write arrives.
"""

from __future__ import annotations

import asyncio

import pytest

from chatr_server.services.group_commit import BUSY_MESSAGE, GroupCommit, Overloaded
from tests.clock import ManualClock


def recorder(gate: asyncio.Event | None = None, started: asyncio.Event | None = None):
    """``run_batch`` records each batch (and sets ``started``); with a ``gate`` it stays in
    flight until the gate is set."""
    batches: list[list[int]] = []

    async def run_batch(rows):
        batches.append([r[0] for r in rows])
        if started is not None:
            started.set()
        if gate is not None:
            await gate.wait()
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
    batches, run_batch, run_one = recorder()
    clock = ManualClock()
    gc = GroupCommit(run_batch, run_one, window=0.5, clock=clock)
    first = gc.submit((1,))
    clock.advance(0.25)  # inside the window: joins the same batch
    second = gc.submit((2,))
    assert clock.pending == [clock.time() + 0.25]  # one timer: the first write's window
    clock.advance(0.25)
    assert await asyncio.gather(first, second) == [10, 20]
    assert batches == [[1, 2]]


async def test_writes_queued_during_a_flush_still_get_their_full_window():
    """The next batch leaves a window after its first write, not when the flush returns."""
    in_flight, started = asyncio.Event(), asyncio.Event()
    batches, run_batch, run_one = recorder(in_flight, started)
    clock = ManualClock(start=0.0)
    gc = GroupCommit(run_batch, run_one, window=2, clock=clock)
    first = gc.submit((1,))
    clock.advance(2)  # t=2: the window closes, batch [1] leaves and stays in flight
    await started.wait()
    assert batches == [[1]]
    clock.advance(1)
    second = gc.submit((2,))  # t=3: opens the next window, which closes at t=5
    clock.advance(1)
    in_flight.set()  # t=4: the flight is over, the window is not
    assert await first == 10
    assert clock.pending == [5.0]  # the flush waits for the rest of second's window
    third = gc.submit((3,))
    clock.advance(0.5)
    assert batches == [[1]] and not second.done()
    clock.advance(0.5)  # t=5
    assert await asyncio.gather(second, third) == [20, 30]
    assert batches == [[1], [2, 3]]


async def test_full_batch_leaves_without_waiting_for_the_window():
    batches, run_batch, run_one = recorder()
    gc = GroupCommit(run_batch, run_one, max_batch=4, window=30, clock=ManualClock())
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
    release, started = asyncio.Event(), asyncio.Event()

    async def run_batch(rows):
        started.set()
        await release.wait()
        return [r[0] for r in rows]

    gc = GroupCommit(run_batch, run_batch, max_batch=2, window=0, max_pending=3)
    in_flight = [gc.submit((i,)) for i in range(2)]  # leave at once: a full batch
    await started.wait()  # the first batch left the queue
    queued = [gc.submit((i,)) for i in range(2, 5)]
    assert gc.pending == 3
    with pytest.raises(Overloaded) as refused:
        gc.submit((5,))
    assert refused.value.message == BUSY_MESSAGE
    release.set()
    assert await asyncio.gather(*in_flight, *queued) == [0, 1, 2, 3, 4]
    assert await gc.submit((6,)) == 6  # accepted again once the queue drained


async def test_wait_idle_flushes_what_is_waiting_for_the_window():
    batches, run_batch, run_one = recorder()
    clock = ManualClock()
    gc = GroupCommit(run_batch, run_one, window=30, clock=clock)  # a window never closed
    pending = [gc.submit((i,)) for i in range(3)]
    await asyncio.wait_for(gc.wait_idle(), 1)
    assert batches == [[0, 1, 2]]
    assert [f.result() for f in pending] == [0, 10, 20]
    assert gc.pending == 0
