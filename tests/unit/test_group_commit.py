"""GroupCommit batches concurrent writes, keeps their order, isolates failures, sheds load.

Windows run on a ManualClock: the tests say at which instant each write arrives.
"""

from __future__ import annotations

import asyncio
import gc
import weakref

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


async def test_lone_write_leaves_at_once_whatever_the_window():
    """Idle: no window is paid (the clock never moves here)."""
    batches, run_batch, run_one = recorder()
    clock = ManualClock()
    gc = GroupCommit(run_batch, run_one, window=0.5, clock=clock)
    assert await asyncio.wait_for(gc.submit((1,)), 1) == 10
    assert await asyncio.wait_for(gc.submit((2,)), 1) == 20
    assert batches == [[1], [2]]
    assert clock.pending == []


async def test_writes_queued_behind_a_flight_leave_together_when_it_returns():
    in_flight, started = asyncio.Event(), asyncio.Event()
    batches, run_batch, run_one = recorder(in_flight, started)
    clock = ManualClock()
    gc = GroupCommit(run_batch, run_one, window=2, busy=4, clock=clock)
    first = gc.submit((1,))
    await started.wait()
    queued = [gc.submit((i,)) for i in (2, 3, 4)]  # fewer than `busy`: no window
    in_flight.set()
    assert await asyncio.wait_for(asyncio.gather(first, *queued), 1) == [10, 20, 30, 40]
    assert batches == [[1], [2, 3, 4]]
    assert clock.pending == []


async def test_busy_batches_wait_out_their_window():
    """Under load the next batch leaves a window after its first write, not when the flight
    returns."""
    in_flight, started = asyncio.Event(), asyncio.Event()
    batches, run_batch, run_one = recorder(in_flight, started)
    clock = ManualClock(start=0.0)
    gc = GroupCommit(run_batch, run_one, window=2, busy=2, clock=clock)
    first = gc.submit((1,))  # t=0: idle, leaves at once and stays in flight
    await started.wait()
    clock.advance(1)
    second, third = gc.submit((2,)), gc.submit((3,))  # t=1: two behind the flight: busy
    in_flight.set()
    assert await first == 10
    assert await asyncio.wait_for(clock.next_deadline(), 1) == 3.0  # the window of t=1's write
    fourth = gc.submit((4,))
    clock.advance(0.5)
    assert batches == [[1]] and not second.done()
    clock.advance(0.5)  # t=2
    assert batches == [[1]]
    clock.advance(1)  # t=3
    assert await asyncio.gather(second, third, fourth) == [20, 30, 40]
    assert batches == [[1], [2, 3, 4]]


async def test_full_batch_leaves_without_waiting_for_the_window():
    batches, run_batch, run_one = recorder()
    gc = GroupCommit(run_batch, run_one, max_batch=4, window=30, clock=ManualClock())
    results = await asyncio.wait_for(asyncio.gather(*(gc.submit((i,)) for i in range(4))), 1)
    assert results == [0, 10, 20, 30]
    assert batches == [[0, 1, 2, 3]]


def failing_batches(bad: int):
    """``run_batch`` that always fails (a deadlock); ``run_one`` that fails row ``bad``."""

    async def run_batch(rows):
        raise RuntimeError("deadlock detected")

    async def run_one(args):
        if args[0] == bad:
            raise ValueError("bad row")
        return args[0]

    return run_batch, run_one


async def test_failed_batch_falls_back_to_single_writes():
    gc = GroupCommit(*failing_batches(3), window=0)
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


async def test_wait_idle_writes_what_waits_for_a_window_at_once():
    in_flight, started = asyncio.Event(), asyncio.Event()
    batches, run_batch, run_one = recorder(in_flight, started)
    clock = ManualClock()
    gc = GroupCommit(run_batch, run_one, window=30, busy=1, clock=clock)  # never closes
    first = gc.submit((0,))
    await started.wait()
    pending = [gc.submit((i,)) for i in range(1, 4)]
    in_flight.set()
    await first
    await asyncio.wait_for(gc.wait_idle(), 1)
    assert batches == [[0], [1, 2, 3]]
    assert [f.result() for f in pending] == [10, 20, 30]
    assert gc.pending == 0


async def test_callbacks_hear_results_in_order_beside_futures():
    """``submit_then``: callbacks and futures share batches; each hears its own row,
    in submission order, as soon as the batch returns."""
    batches, run_batch, run_one = recorder()
    gc = GroupCommit(run_batch, run_one, max_batch=8, window=0)
    heard: list[tuple[int | None, Exception | None]] = []

    def note(result: int | None, exc: Exception | None) -> None:
        heard.append((result, exc))

    gc.submit_then((1,), note)
    future = gc.submit((2,))
    gc.submit_then((3,), note)
    assert await asyncio.wait_for(future, 1) == 20
    assert batches == [[1, 2, 3]]
    # The batch's callbacks ran in the pass that settled the future, before it woke us.
    assert heard == [(10, None), (30, None)]


async def test_callbacks_hear_errors_and_one_failing_callback_spares_the_rest(caplog):
    gc = GroupCommit(*failing_batches(2), window=0)
    heard: list[tuple[int | None, str | None]] = []

    def note(result: int | None, exc: Exception | None) -> None:
        heard.append((result, type(exc).__name__ if exc else None))
        if result == 1:
            raise KeyError("a bug in one caller")

    for i in range(4):
        gc.submit_then((i,), note)
    await asyncio.wait_for(gc.wait_idle(), 1)
    assert heard == [(0, None), (1, None), (None, "ValueError"), (3, None)]
    assert "result callback failed" in caplog.text


async def test_callbacks_are_refused_like_futures_when_the_queue_is_full():
    release, started = asyncio.Event(), asyncio.Event()
    _, run_batch, run_one = recorder(release, started)
    gc = GroupCommit(run_batch, run_one, max_batch=1, window=0, max_pending=1)
    heard: list[int | None] = []
    gc.submit_then((0,), lambda result, exc: heard.append(result))
    await started.wait()
    gc.submit_then((1,), lambda result, exc: heard.append(result))
    with pytest.raises(Overloaded):
        gc.submit_then((2,), lambda result, exc: heard.append(result))
    release.set()
    await asyncio.wait_for(gc.wait_idle(), 1)
    assert heard == [0, 10]


@pytest.mark.parametrize(("max_batch", "pipelined"), [(4, True), (8, False)])
async def test_next_batch_leaves_first_when_half_a_batch_waits(max_batch, pipelined):
    """With half a batch or more queued behind a flight (two writes here), the database
    gets the next batch before the previous one's writers are answered: they hear on
    the loop's next pass, while it runs, and in order. With less queued they are
    answered first (later writes may still join the next batch)."""
    heard: list[int | None] = []
    answered_when_sent: list[int] = []
    started = [asyncio.Event(), asyncio.Event()]
    gates = [asyncio.Event(), asyncio.Event()]
    first_answered = asyncio.Event()

    async def run_batch(rows):
        n = len(answered_when_sent)
        answered_when_sent.append(len(heard))
        started[n].set()
        await gates[n].wait()
        return [r[0] * 10 for r in rows]

    def note(result: int | None, exc: Exception | None) -> None:
        heard.append(result)
        first_answered.set()

    gc = GroupCommit(run_batch, run_batch, window=0, max_batch=max_batch)
    gc.submit_then((0,), note)
    await started[0].wait()
    gc.submit_then((1,), note)
    gc.submit_then((2,), note)
    gates[0].set()
    await started[1].wait()
    assert answered_when_sent == [0, 0 if pipelined else 1]
    await first_answered.wait()
    assert heard == [0]  # answered while [1, 2] is still in flight
    gates[1].set()
    await asyncio.wait_for(gc.wait_idle(), 1)
    assert heard == [0, 10, 20]


async def test_answered_batches_are_freed_without_the_garbage_collector():
    """A batch answered on the loop's next pass holds no reference cycle: once answered,
    its rows and results go with reference counting (a cycle per batch kept whole
    batches alive until a collection, whose pauses then grew with the load)."""

    class Row:
        pass

    results: list[weakref.ref[Row]] = []
    started = [asyncio.Event(), asyncio.Event()]
    gates = [asyncio.Event(), asyncio.Event()]

    async def run_batch(rows):
        n = sum(s.is_set() for s in started)
        started[n].set()
        await gates[n].wait()
        out = [Row() for _ in rows]
        results.extend(weakref.ref(r) for r in out)
        return out

    heard: list[bool] = []
    gc.disable()
    try:
        commit = GroupCommit(run_batch, run_batch, window=0, max_batch=4)
        commit.submit_then((0,), lambda row, exc: heard.append(row is not None))
        await started[0].wait()
        commit.submit_then((1,), lambda row, exc: heard.append(row is not None))
        commit.submit_then((2,), lambda row, exc: heard.append(row is not None))
        gates[0].set()
        await started[1].wait()  # the first batch's answer was deferred
        gates[1].set()
        await asyncio.wait_for(commit.wait_idle(), 1)
        assert heard == [True, True, True]
        assert len(results) == 3 and all(ref() is None for ref in results)
    finally:
        gc.enable()
