"""A clock the test moves by hand, for code that takes a ``chatr_server.util.clock.Clock``.

Nothing scheduled on it runs until the test calls :meth:`ManualClock.advance`, which
runs every timer that falls due, in time order, with ``time()`` reading each timer's
own deadline while it runs. Timing tests then state exact instants instead of
sleeping through a margin and hoping the machine kept up.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Any


class ManualTimer:
    __slots__ = ("_args", "_callback", "_cancelled", "_when")

    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]):
        self._when = when
        self._callback = callback
        self._args = args
        self._cancelled = False

    def when(self) -> float:
        return self._when

    def cancel(self) -> None:
        self._cancelled = True

    def cancelled(self) -> bool:
        return self._cancelled


class ManualClock:
    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._order = itertools.count()
        self._timers: list[tuple[float, int, ManualTimer]] = []
        self._scheduled: asyncio.Event | None = None

    def time(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> ManualTimer:
        timer = ManualTimer(when, callback, args)
        heapq.heappush(self._timers, (when, next(self._order), timer))
        if self._scheduled is not None:
            self._scheduled.set()
        return timer

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> ManualTimer:
        return self.call_at(self._now + delay, callback, *args)

    @property
    def pending(self) -> list[float]:
        """Deadlines of the timers still waiting, earliest first."""
        return sorted(when for when, _, timer in self._timers if not timer.cancelled())

    async def next_deadline(self) -> float:
        """Wait until code under test has set a timer; the earliest deadline."""
        while not self.pending:
            self._scheduled = asyncio.Event()
            await self._scheduled.wait()
        return self.pending[0]

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, running each timer due on the way."""
        target = self._now + seconds
        while self._timers and self._timers[0][0] <= target:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled():
                continue
            self._now = max(self._now, when)
            timer._callback(*timer._args)
        self._now = target
