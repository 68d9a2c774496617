"""Group commit: many concurrent writers, one database round trip.

Callers ``await submit(args)`` and get their own result row, or pass a
callback to ``submit_then`` (no future, no waiting task: the hot path's form).
Batching adapts to the load:

* **Idle** (nothing in flight): a write leaves at once, so at low and moderate
  rates a message costs one round trip, as a plain INSERT would. "At once"
  is the next pass of the event loop, so the writes that arrive in the same
  pass (one read of several frames) still share its statement.
* **Writes queue up behind a flight**: they leave together as soon as it
  returns: batches form on their own, as large as one round trip's arrivals.
* **Busy** (at least ``busy`` writes queued behind one flight): the next batch
  also waits out the collection ``window`` (a millisecond or two, counted from
  its first write) unless ``max_batch`` rows are waiting, so a busy server sends
  full windows' worth rather than whatever arrived during one round trip.
  That is what makes the database side cheap under load: the fixed cost of a
  statement and its commit (most of a lone INSERT's cost) is paid once per
  batch instead of once per message.

* **The database falls behind** (half a batch or more queued when a flight
  returns): the next batch is sent before the returned one's writers are
  answered, and they hear on the loop's next pass, while the database works.
  Answering 128 writes (their deliveries and acks) takes milliseconds of
  Python; done first, it would leave the database idle for that long per batch,
  and the writer's throughput would be the sum of the two, not the larger.

Submissions keep their order inside a batch, and batches run one after the
other (each is committed before the next is sent), so writes from one
connection (which awaits each result before the next) are stored in arrival
order, and writers hear of their batches in batch order.

Admission is bounded: beyond ``max_pending`` queued writes, ``submit`` raises
:class:`Overloaded` at once instead of growing the queue — under a load the
database cannot absorb, senders see an error they can retry rather than acks
that drift minutes behind, and memory stays bounded.

Database outages: a batch that fails because PostgreSQL went away (a restart
closes every connection) is run once more, on a fresh connection, when
``retry_safe`` says that cannot store anything twice; if PostgreSQL is still
down every write of the batch fails at once with that error (no row-by-row
retries against a database that is not there, no traceback per batch). Only
the failure path does any of this.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from chatr_server.errors import ServiceError
from chatr_server.services.dependencies import is_dependency_outage
from chatr_server.util.clock import Clock, LoopClock

log = logging.getLogger(__name__)

T = TypeVar("T")
# Who hears of a write's result: a future (``submit``) or a callback (``submit_then``).
ResultCallback = Callable[[T | None, Exception | None], None]
Waiter = asyncio.Future[T] | ResultCallback[T]

# Large enough to amortise a commit; small enough to keep one batch's latency low.
DEFAULT_MAX_BATCH = 128
# Under load, how long the first write of a batch waits for company (seconds).
DEFAULT_WINDOW = 0.002
# Writes queued behind one flight from which the load counts as busy (windows apply).
DEFAULT_BUSY = 4
# Queued writes beyond which new ones are refused.
DEFAULT_MAX_PENDING = 1_000

BUSY_MESSAGE = "Server is busy, please try again"


class Overloaded(ServiceError):
    """The write queue is full: the caller's write was not attempted."""

    def __init__(self) -> None:
        super().__init__(503, BUSY_MESSAGE)


class GroupCommit(Generic[T]):
    def __init__(
        self,
        run_batch: Callable[[list[tuple[Any, ...]]], Awaitable[Sequence[T]]],
        run_one: Callable[[tuple[Any, ...]], Awaitable[T]],
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        window: float = DEFAULT_WINDOW,
        max_pending: int = DEFAULT_MAX_PENDING,
        busy: int = DEFAULT_BUSY,
        retry_safe: Callable[[list[tuple[Any, ...]], BaseException], bool] | None = None,
        clock: Clock | None = None,
        on_batch: Callable[[int], object] | None = None,
    ) -> None:
        """``run_batch`` writes many argument tuples in one statement and returns one
        result per tuple, in order; ``run_one`` retries single rows of a failed batch.
        ``retry_safe(rows, error)``: whether a batch that failed with a database
        outage may run again (idempotent rows, or nothing was sent). ``window`` and
        ``busy``: see the module docstring (``window=0``: never wait). ``clock`` times
        the collection windows (the event loop's by default). ``on_batch(size)`` is told the
        size of every batch that leaves (metrics)."""
        self._run_batch = run_batch
        self._on_batch = on_batch
        self._run_one = run_one
        self._retry_safe = retry_safe
        self._max_batch = max_batch
        self._window = window
        self._max_pending = max_pending
        self._busy = max(busy, 1)
        self._clock: Clock = clock if clock is not None else LoopClock()
        self._queue: list[tuple[tuple[Any, ...], Waiter[T]]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opened_at = 0.0  # clock time of the first write queued since the last batch left
        self._flushing: asyncio.Task[None] | None = None
        # Set while the flush waits out a window; resolved early by wait_idle().
        self._window_wait: asyncio.Future[None] | None = None
        self._hurry = False
        # A batch whose writers hear on the loop's next pass, and its results (``_defer``).
        self._deferred: tuple[list[tuple[tuple[Any, ...], Waiter[T]]], Sequence[T]] | None = None

    @property
    def pending(self) -> int:
        """Writes queued and not yet sent to the database."""
        return len(self._queue)

    async def wait_idle(self) -> None:
        """Write what is queued without waiting for windows; return once nothing is queued
        or in flight (used at shutdown)."""
        self._hurry = True
        try:
            while self._flushing is not None:
                _wake(self._window_wait)
                await asyncio.shield(self._flushing)
        finally:
            self._hurry = False

    def submit(self, args: tuple[Any, ...]) -> asyncio.Future[T]:
        """Queue one write; the returned future resolves to its result row."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._enqueue(args, future)
        return future

    def submit_then(self, args: tuple[Any, ...], done: ResultCallback[T]) -> None:
        """Queue one write; ``done(result, None)`` or ``done(None, error)`` is called
        when its batch returns, in submission order.

        The task-free form of :meth:`submit`: no future, no task waiting on it, and
        the callbacks of a whole batch run in the pass its result arrives in.
        """
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self._enqueue(args, done)

    def _enqueue(self, args: tuple[Any, ...], waiter: Waiter[T]) -> None:
        queue = self._queue
        if len(queue) >= self._max_pending:
            raise Overloaded()
        if not queue:
            self._opened_at = self._clock.time()
        queue.append((args, waiter))
        if self._flushing is None:
            # Idle: the flush starts on the loop's next pass, with whatever arrived by then.
            assert self._loop is not None
            self._flushing = self._loop.create_task(self._flush_all())

    async def _flush_all(self) -> None:
        queue, max_batch = self._queue, self._max_batch
        try:
            while queue:
                batch = queue[:max_batch]
                del queue[:max_batch]
                results = await self._flush(batch)
                rest = 0.0
                if self._busy <= len(queue) < max_batch and not self._hurry:
                    # Busy: let the next batch fill its window (counted from its first write).
                    rest = self._opened_at + self._window - self._clock.time()
                # (No results: the batch failed, and its writers have heard already.)
                if results is not None:
                    if len(queue) >= max_batch // 2 and rest <= 0:
                        # The database is what holds writes up (half a batch or more
                        # queued behind this one): send the next batch first, and answer
                        # this one (deliveries, acks) on the loop's next pass while the
                        # database works on it. Under a lighter load answering first lets
                        # the writes that arrive meanwhile join the next batch: fewer,
                        # larger statements.
                        self._defer(batch, results)
                    else:
                        self._answer_deferred()
                        _settle_all(batch, results)
                if rest > 0:
                    await self._wait_window(rest)
        finally:
            self._flushing = None

    def _defer(self, batch: list[tuple[tuple[Any, ...], Waiter[T]]], results: Sequence[T]) -> None:
        """Answer ``batch`` on the loop's next pass, or sooner if a later batch is
        answered first (writers hear of their batches in order).

        Held on ``self``, not in a closure that names itself: that would be a
        reference cycle holding the whole batch until the garbage collector ran.
        """
        self._answer_deferred()
        self._deferred = (batch, results)
        assert self._loop is not None
        self._loop.call_soon(self._answer_deferred)

    def _answer_deferred(self) -> None:
        deferred = self._deferred
        if deferred is not None:
            self._deferred = None
            _settle_all(*deferred)

    async def _wait_window(self, delay: float) -> None:
        assert self._loop is not None
        wait = self._window_wait = self._loop.create_future()
        timer = self._clock.call_later(delay, _wake, wait)
        try:
            await wait
        finally:
            timer.cancel()
            self._window_wait = None

    async def _flush(self, batch: list[tuple[tuple[Any, ...], Waiter[T]]]) -> Sequence[T] | None:
        """Run one batch; its results, in order, for the caller to hand out, or None when
        it failed (then every writer has been answered here)."""
        rows = [args for args, _ in batch]
        if self._on_batch is not None:
            self._on_batch(len(rows))
        try:
            results = await self._run_batch(rows)
        except Exception as exc:
            self._answer_deferred()
            try:
                results = await self._after_outage(rows, exc)
            except Exception as final:
                exc = final
            else:
                return results
            if len(batch) == 1 or is_dependency_outage(exc):
                for _, waiter in batch:
                    _settle(waiter, exc)
                return None
            # One bad row (or a deadlock with another node) must not fail its
            # neighbours: retry each on its own.
            log.warning(
                "batched write failed; retrying %d writes one by one", len(batch), exc_info=True
            )
            for args, waiter in batch:
                try:
                    result = await self._run_one(args)
                except Exception as one_exc:
                    _settle(waiter, one_exc)
                else:
                    _settle(waiter, None, result)
            return None
        return results

    async def _after_outage(self, rows: list[tuple[Any, ...]], exc: Exception) -> Sequence[T]:
        """Run a failed batch once more if it failed on a lost connection and may be re-run;
        otherwise re-raise ``exc``."""
        if (
            self._retry_safe is None
            or is_dependency_outage(exc) is None
            or not self._retry_safe(rows, exc)
        ):
            raise exc
        return await self._run_batch(rows)


def _wake(wait: asyncio.Future[None] | None) -> None:
    if wait is not None and not wait.done():
        wait.set_result(None)


def _settle_all(batch: list[tuple[tuple[Any, ...], Waiter[T]]], results: Sequence[T]) -> None:
    for (_, waiter), result in zip(batch, results, strict=True):
        _settle(waiter, None, result)


def _settle(waiter: Waiter[Any], exc: Exception | None, result: Any = None) -> None:
    if not isinstance(waiter, asyncio.Future):
        try:
            waiter(result if exc is None else None, exc)
        except Exception:  # one caller's bug must not cost the rest of the batch its results
            log.exception("group commit: result callback failed")
        return
    if waiter.done():  # the caller went away (cancelled); the write still happened
        return
    if exc is not None:
        waiter.set_exception(exc)
    else:
        waiter.set_result(result)
