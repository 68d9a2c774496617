"""Outages of PostgreSQL and Redis: what counts as one, and who is down right now.

``is_dependency_outage(exc)`` is the one classifier every boundary uses (the
HTTP error middleware, the socket event guards, the handshake): it names the
dependency an exception says is unreachable, or ``None`` for any other
failure. Such failures are answered as a brief, retryable refusal (503 with
``Retry-After``; the socket's usual error event) instead of a 500 and a
traceback.

A :class:`DependencyMonitor` (one per app, ``app[DEPENDENCIES]``) turns the
stream of failures into a few log lines: one WARNING when a dependency goes
down, a WARNING every ``report_every`` seconds with what was refused while it
stays down, and one INFO when it is back, with the outage's duration. While a
dependency is down the monitor probes it (about once a second) to notice the
recovery, and then runs the recovery hooks (presence re-registers this node's
connections in Redis). Nothing runs and nothing is counted while everything
is up, so the success path costs nothing.

Readiness (and anyone else) reads ``is_up(name)``, ``down_since(name)`` and
``snapshot()``; ``await check(name)`` probes on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import asyncpg
from redis import exceptions as redis_errors

from chatr_server.errors import ServiceError

log = logging.getLogger("chatr_server.dependencies")

POSTGRES = "postgres"
REDIS = "redis"

UNAVAILABLE = "Service temporarily unavailable"
# Seconds a refused client is told to wait: about how long a restart takes.
RETRY_AFTER_S = 3
# Text PostgreSQL cannot store (NUL): the 400 answer of the REST API.
INVALID_INPUT = "Invalid input"

# While down: how often the dependency is probed, and how often the refusals are reported.
PROBE_EVERY_S = 1.0
REPORT_EVERY_S = 10.0

_PG_OUTAGES: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08, ConnectionDoesNotExistError
    asyncpg.CannotConnectNowError,  # starting up / shutting down
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
)
# A bare InterfaceError is about the connection ("connection is closed", "pool is
# closing", "released back to the pool"; its subclasses, such as an argument's
# DataError, are bugs or bad input). InternalClientError "cannot switch to state"
# is a connection that read the server's termination notice but not yet its EOF.
# Both are raised before anything is sent.
CONNECTION_LOST_BEFORE_SEND: tuple[type[BaseException], ...] = (
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)
_PG_CONNECTION_STATE = frozenset(CONNECTION_LOST_BEFORE_SEND)
_REDIS_OUTAGES: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,  # refused, reset, closed, loading
    redis_errors.TimeoutError,
)
# Text the database refuses to store (NUL in ``text``, ``\u0000`` in ``jsonb``).
_UNSTORABLE_TEXT: tuple[type[BaseException], ...] = (
    asyncpg.CharacterNotInRepertoireError,
    asyncpg.UntranslatableCharacterError,
)


class DependencyUnavailable(ServiceError):
    """A request refused because a dependency is down: 503 with ``Retry-After``."""

    def __init__(self, dependency: str) -> None:
        super().__init__(503, UNAVAILABLE, headers={"Retry-After": str(RETRY_AFTER_S)})
        self.dependency = dependency


def _raised_in(tb: TracebackType | None) -> str | None:
    """The dependency whose client library an exception passed through, if any."""
    found = None
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.startswith("asyncpg"):
            found = POSTGRES
        elif module.startswith("redis"):
            found = REDIS
        tb = tb.tb_next
    return found


def _classify_one(exc: BaseException) -> str | None:
    if isinstance(exc, DependencyUnavailable):
        return exc.dependency
    if isinstance(exc, _PG_OUTAGES) or type(exc) in _PG_CONNECTION_STATE:
        return POSTGRES
    if isinstance(exc, _REDIS_OUTAGES):
        return REDIS
    if isinstance(exc, OSError | TimeoutError):
        # Refused/reset sockets and bounded waits (pool acquire, command timeout):
        # whose they are is told by the client library they were raised in.
        return _raised_in(exc.__traceback__)
    return None


def is_dependency_outage(exc: BaseException) -> str | None:
    """``"postgres"`` / ``"redis"`` when ``exc`` says that dependency is unreachable."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 4:
        found = _classify_one(current)
        if found is not None:
            return found
        current = current.__cause__ or current.__context__
        seen += 1
    return None


def is_unstorable_text(exc: BaseException) -> bool:
    """True when PostgreSQL refused a text value (a NUL character): bad input, not a 500."""
    return isinstance(exc, _UNSTORABLE_TEXT)


def has_nul(value: Any) -> bool:
    """Whether decoded JSON holds a NUL character in any string (keys included).

    Plain loops, no generators: this runs on every socket event.
    """
    kind = type(value)
    if kind is str:
        return "\x00" in value
    if kind is dict:
        for key, item in value.items():
            if "\x00" in key:
                return True
            item_kind = type(item)
            if item_kind is str:
                if "\x00" in item:
                    return True
            elif (item_kind is dict or item_kind is list) and has_nul(item):
                return True
        return False
    if kind is list or kind is tuple:
        for item in value:
            if has_nul(item):
                return True
    return False


Probe = Callable[[], Awaitable[bool]]
Hook = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class _State:
    probe: Probe | None = None
    down_since: float | None = None  # wall clock (time.time()) of the first failure
    down_at: float = 0.0  # monotonic twin of down_since, for durations
    refused: int = 0  # refused since the last report
    refused_total: int = 0  # refused during this outage
    last_error: str = ""
    task: asyncio.Task[None] | None = None


class DependencyMonitor:
    """Up/down state per dependency, quiet logging while down, and recovery hooks."""

    def __init__(
        self, *, probe_every: float = PROBE_EVERY_S, report_every: float = REPORT_EVERY_S
    ) -> None:
        self.probe_every = probe_every
        self.report_every = report_every
        self._states: dict[str, _State] = {}
        self._hooks: dict[str, list[Hook]] = {}
        self._closed = False

    # ---- set-up ----------------------------------------------------------

    def register(self, name: str, probe: Probe) -> None:
        """Watch ``name``; ``probe()`` answers True when it is reachable (never raises)."""
        self._state(name).probe = probe

    def on_recovery(self, name: str, hook: Hook) -> None:
        """Run ``hook()`` each time ``name`` comes back (after the INFO line)."""
        self._hooks.setdefault(name, []).append(hook)

    async def close(self) -> None:
        self._closed = True
        for state in self._states.values():
            task, state.task = state.task, None
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _state(self, name: str) -> _State:
        state = self._states.get(name)
        if state is None:
            state = self._states[name] = _State()
        return state

    # ---- reading ---------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return list(self._states)

    def is_up(self, name: str) -> bool:
        """False from the first failure until a probe (or a success report) sees it back."""
        state = self._states.get(name)
        return state is None or state.down_since is None

    def down_since(self, name: str) -> float | None:
        """Epoch seconds of the failure that started the current outage (``None`` when up)."""
        state = self._states.get(name)
        return None if state is None else state.down_since

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """``{name: {"up", "downSince", "refused", "lastError"}}`` for every known dependency."""
        return {
            name: {
                "up": state.down_since is None,
                "downSince": state.down_since,
                "refused": state.refused_total,
                "lastError": state.last_error or None,
            }
            for name, state in self._states.items()
        }

    async def check(self, name: str) -> bool:
        """Probe ``name`` now and update its state (True when up or not watched)."""
        state = self._states.get(name)
        if state is None or state.probe is None:
            return self.is_up(name)
        if await state.probe():
            if state.down_since is not None:
                await self._recovered(name, state)
            return True
        self.failed(name, "probe failed", count=False)
        return False

    # ---- reporting -------------------------------------------------------

    def failed(self, name: str, error: BaseException | str = "", *, count: bool = True) -> None:
        """Record a failure caused by ``name`` being unreachable (one refused request/event).

        The first one of an outage logs a WARNING and starts the probe loop.
        """
        state = self._state(name)
        if count:
            state.refused += 1
            state.refused_total += 1
        if state.down_since is not None:
            return
        state.down_since = time.time()
        state.down_at = time.monotonic()
        state.last_error = error if isinstance(error, str) else _describe(error)
        log.warning("%s is unreachable (%s); refusing what needs it", name, state.last_error)
        if not self._closed and state.probe is not None and state.task is None:
            state.task = asyncio.get_running_loop().create_task(
                self._watch(name, state), name=f"dependency-watch-{name}"
            )

    def refuse(self, exc: BaseException) -> str | None:
        """Classify ``exc``; when it is an outage, record it and return the dependency."""
        name = is_dependency_outage(exc)
        if name is not None:
            self.failed(name, exc)
        return name

    async def _watch(self, name: str, state: _State) -> None:
        assert state.probe is not None
        last_report = time.monotonic()
        try:
            while state.down_since is not None:
                await asyncio.sleep(self.probe_every)
                if await state.probe():
                    await self._recovered(name, state)
                    return
                now = time.monotonic()
                if now - last_report >= self.report_every:
                    log.warning(
                        "%s still unreachable after %.0f s; %d requests/events refused in the"
                        " last %.0f s",
                        name,
                        now - state.down_at,
                        state.refused,
                        now - last_report,
                    )
                    last_report = now
                    state.refused = 0
        finally:
            if state.task is asyncio.current_task():
                state.task = None

    async def _recovered(self, name: str, state: _State) -> None:
        if state.down_since is None:
            return
        duration = time.monotonic() - state.down_at
        log.info(
            "%s is back after %.1f s (%d requests/events refused meanwhile)",
            name,
            duration,
            state.refused_total,
        )
        state.down_since = None
        state.refused = 0
        state.refused_total = 0
        for hook in self._hooks.get(name, ()):
            try:
                await hook()
            except Exception as exc:
                log.warning("%s recovery hook failed: %s", name, _describe(exc))


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def probe_postgres(pool: asyncpg.Pool, limit_s: float = 2.0) -> bool:
    """One ``SELECT 1`` through the pool (which reconnects its dead connections)."""
    try:
        async with asyncio.timeout(limit_s):
            await pool.fetchval("SELECT 1")
    except Exception:
        return False
    return True
