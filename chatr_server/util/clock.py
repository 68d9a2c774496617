"""Time as a dependency: the event loop's clock in production, a hand-driven one in tests.

Timer-driven code (group commit windows, Engine.IO heartbeats and upgrade timeouts)
takes a :class:`Clock` instead of calling the loop directly, so its tests advance
time explicitly rather than sleeping and hoping a margin is wide enough.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol


class Timer(Protocol):
    """A scheduled callback (``asyncio.TimerHandle`` is one)."""

    def when(self) -> float: ...

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Monotonic time in seconds plus timers on that time base."""

    def time(self) -> float: ...

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> Timer: ...

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Timer: ...


class LoopClock:
    """The running event loop's clock (bound on first use, then cached: looking the
    loop up costs a system call, and timers are set per message and per session)."""

    __slots__ = ("_loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        return loop

    def time(self) -> float:
        return self.loop.time()

    def call_at(self, when: float, callback: Callable[..., object], *args: Any) -> Timer:
        return self.loop.call_at(when, callback, *args)

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Timer:
        return self.loop.call_later(delay, callback, *args)
