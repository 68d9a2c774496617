"""A steady ``message:send`` load inside one asyncio process, for fault drills and tests.

``scripts/loadtest`` measures throughput with worker processes; a fault drill wants
something else: a modest fixed rate that keeps going while the server or its
database fails, sockets that reconnect like the official client does, and an exact
account of every send (acknowledged with which id, refused with which text, or never
answered) to compare with what PostgreSQL stored. It reuses the project's raw client
(:class:`~loadtest.client.SioClient`) and SQL seeding
(:mod:`~loadtest.seed`); the database checks are :func:`stored` and
:func:`verify.missing_ids`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from loadtest import seed
from loadtest.client import SioClient

# Reconnection after a drop, as socket.io-client does it (1 s doubling to 5 s), but
# starting sooner: a drill measures how fast service resumes.
RECONNECT_FIRST_S = 0.25
RECONNECT_MAX_S = 2.0
CONNECT_LIMIT_S = 5.0


@dataclass
class Tally:
    """What the clients saw during one phase (see :meth:`SteadyLoad.phase`)."""

    sent: int = 0
    acked: dict[str, str] = field(default_factory=dict)  # tempId → stored message id
    ack_times: list[float] = field(default_factory=list)  # monotonic time of each ack
    refused: Counter[str] = field(default_factory=Counter)  # error texts of refused sends
    events: Counter[str] = field(default_factory=Counter)  # disconnects, connect errors, …
    unsent: int = 0  # sends due while no socket was connected (not offered)


class _Conn:
    """One user's socket, reconnected after it drops until the load stops."""

    def __init__(self, load: SteadyLoad, index: int) -> None:
        self.load = load
        self.index = index  # in load.users
        self.slot = 0  # in load._conns
        self.client: SioClient | None = None
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def on_event(self, name: str, data: Any) -> None:
        tally = self.load.tally
        if name == "message:sent" and isinstance(data, dict):
            temp = str(data.get("tempId", ""))
            if temp.startswith(self.load.prefix):
                tally.acked[temp] = str(data.get("id"))
                tally.ack_times.append(time.monotonic())
                self.load.poke()
        elif name == "socket:ready":
            self.ready.set()
        elif name in ("error", "message:blocked"):
            text = data.get("message") if isinstance(data, dict) else data
            tally.refused[f"{name}: {text}"] += 1
            self.load.poke()

    def on_close(self, _client: SioClient, reason: str) -> None:
        self.ready.clear()
        self.load.tally.events[f"disconnected: {reason}"] += 1
        self.load.poke()

    async def keep_connected(self) -> None:
        delay = RECONNECT_FIRST_S
        user = self.load.users[self.index]
        while not self.load.stopping:
            client = SioClient(
                self.load.http,
                self.load.url,
                {"token": user.token},
                self.on_event,
                on_close=self.on_close,
            )
            self.client = client
            try:
                await client.connect(CONNECT_LIMIT_S)
                async with asyncio.timeout(CONNECT_LIMIT_S):
                    await self.ready.wait()
            except Exception as exc:
                detail = str(exc) or type(exc).__name__
                self.load.tally.events[f"connect failed: {detail[:80]}"] += 1
                await client.close()
                await asyncio.sleep(delay)
                delay = min(RECONNECT_MAX_S, delay * 2)
                continue
            delay = RECONNECT_FIRST_S
            while client.connected and not self.load.stopping:
                await self.load.changed.wait()
            await client.close()

    @property
    def usable(self) -> bool:
        return self.client is not None and self.client.connected and self.ready.is_set()


class SteadyLoad:
    """One socket per online user, together sending ``rate`` message:send per second.

    Each send goes to one of the sender's two ring neighbours, alternately; with
    ``online`` naming only some users (say ``i % 3 != 2``), half of the messages go
    to users with no socket, whose delivery does not depend on the sender's node.
    """

    def __init__(
        self,
        url: str,
        users: list[seed.User],
        rate: float,
        prefix: str,
        online: Callable[[int], bool] | None = None,
    ) -> None:
        self.url = url
        self.users = users
        self.online = online or (lambda _index: True)
        self.rate = rate
        #: tempId and content prefix of every send (one per load, so rows can be found).
        self.prefix = prefix
        self.tally = Tally()
        self.stopping = False
        self.changed = asyncio.Event()  # poked on every close so waiting loops re-check
        self.http: aiohttp.ClientSession | None = None
        self._conns: list[_Conn] = []
        self._sender: asyncio.Task[None] | None = None
        self._seq = 0

    async def start(self) -> None:
        """Connect every socket (waits for all to be ready), then start sending."""
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        self._conns = [_Conn(self, i) for i in range(len(self.users)) if self.online(i)]
        for slot, conn in enumerate(self._conns):
            conn.slot = slot
            conn.task = asyncio.create_task(conn.keep_connected())
        async with asyncio.timeout(CONNECT_LIMIT_S * 4):
            await asyncio.gather(*(conn.ready.wait() for conn in self._conns))
        self._sender = asyncio.create_task(self._send_loop())

    def poke(self) -> None:
        """Wake everything waiting on :attr:`changed` (acks, closes, each send tick)."""
        self.changed.set()
        self.changed.clear()

    def phase(self) -> Tally:
        """Start counting afresh; returns what was counted since the previous phase."""
        done, self.tally = self.tally, Tally()
        return done

    def connected(self) -> int:
        return sum(1 for conn in self._conns if conn.usable)

    async def _send_loop(self) -> None:
        started = time.monotonic()
        offered = 0
        turn = 0
        n = len(self._conns)
        while not self.stopping:
            due = int((time.monotonic() - started) * self.rate) - offered
            for _ in range(due):
                offered += 1
                conn = self._next_usable(turn)
                if conn is None or conn.client is None:
                    self.tally.unsent += 1
                    continue
                turn = (conn.slot + 1) % n
                step = 1 if self._seq % 2 else -1
                to = self.users[(conn.index + step) % len(self.users)]
                temp = f"{self.prefix}{self._seq}"
                self._seq += 1
                conn.client.emit(
                    "message:send", {"recipientId": to.id, "content": temp, "tempId": temp}
                )
                self.tally.sent += 1
            self.poke()
            await asyncio.sleep(min(0.01, 1 / self.rate))

    def _next_usable(self, start: int) -> _Conn | None:
        n = len(self._conns)
        for k in range(n):
            conn = self._conns[(start + k) % n]
            if conn.usable:
                return conn
        return None

    async def settle(self, limit_s: float) -> None:
        """Wait until every send of this phase is answered or ``limit_s`` has passed."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit_s):
                while len(self.tally.acked) + sum(self.tally.refused.values()) < self.tally.sent:
                    await self.changed.wait()

    async def stop_sending(self) -> None:
        """Stop offering new sends; sockets stay connected to collect late answers."""
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
            self._sender = None

    async def stop(self) -> None:
        self.stopping = True
        self.changed.set()
        tasks = [t for t in (self._sender, *(c.task for c in self._conns)) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(
            *(c.client.close() for c in self._conns if c.client is not None),
            return_exceptions=True,
        )
        if self.http is not None:
            await self.http.close()


async def seed_ring(dsn: str, secret: str, n: int, run_id: str) -> list[seed.User]:
    """``n`` users in SQL, each with accepted conversations with its ring neighbours."""
    return await seed.seed_sql(dsn, secret, n, run_id, seed.ring_pairs(n, 2))


async def stored(dsn: str, prefix: str) -> dict[str, list[str]]:
    """tempId → ids of the stored messages whose tempId starts with ``prefix``."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT temp_id, id FROM messages WHERE starts_with(temp_id, $1)", prefix
        )
    finally:
        await conn.close()
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(row["temp_id"], []).append(str(row["id"]))
    return found


def as_uuids(ids: list[str]) -> list[uuid.UUID]:
    return [uuid.UUID(i) for i in ids if i and i != "None"]
