"""The broker's write connection to a single Redis: batches of commands, packed once.

The publisher task (:class:`~chatr_server.realtime.redis_adapter.RedisBroker`) sends
every broadcast, recovery-log write and session record through here. redis-py's
pipeline costs ~70–110 µs of Python for a batch of four commands (each argument
encoded, each reply read under its own timeout, a pooled connection taken and given
back); this writer packs each command with hiredis as it is queued, writes the batch
with one call and counts the replies with hiredis' reader: ~12 µs. At moderate rates
every message is a batch of its own, so that is most of what Redis adds per message.

Only ``redis://`` URLs on a single Redis (a cluster routes commands by slot: the broker
keeps redis-py's cluster pipeline there). Commands are answered in order on the one
connection, so the publisher's FIFO order, which recovery relies on, is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any
from urllib.parse import unquote, urlsplit

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

DEFAULT_PORT = 6379


class CommandBatch:
    """Commands queued for one round trip, packed as they come.

    It offers the few pipeline methods the broker's writers call (``publish``,
    ``spublish``, ``eval``, ``xadd``, ``hset``, ``pexpire``, ``delete``, ``set``), with
    redis-py's argument conventions, so a writer runs unchanged on either.
    """

    __slots__ = ("count", "packed")

    def __init__(self) -> None:
        self.packed: list[bytes] = []
        self.count = 0

    def _add(self, *args: Any) -> None:
        self.packed.append(hiredis.pack_command(args))
        self.count += 1

    def publish(self, channel: str, message: bytes) -> None:
        self._add(b"PUBLISH", channel, message)

    def spublish(self, channel: str, message: bytes) -> None:
        self._add(b"SPUBLISH", channel, message)

    def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> None:
        self._add(b"EVAL", script, numkeys, *keys_and_args)

    def xadd(
        self,
        name: str,
        fields: dict[str, Any],
        id: str,  # redis-py's name for it
        maxlen: int,
        approximate: bool = True,
    ) -> None:
        trim = (b"MAXLEN", b"~", maxlen) if approximate else (b"MAXLEN", maxlen)
        self._add(b"XADD", name, *trim, id, *_pairs(fields))

    def hset(self, name: str, mapping: dict[str, Any]) -> None:
        self._add(b"HSET", name, *_pairs(mapping))

    def pexpire(self, name: str, ms: int) -> None:
        self._add(b"PEXPIRE", name, ms)

    def delete(self, *names: str) -> None:
        self._add(b"DEL", *names)

    def set(self, name: str, value: Any, ex: int | None = None) -> None:
        if ex is None:
            self._add(b"SET", name, value)
        else:
            self._add(b"SET", name, value, b"EX", ex)


def _pairs(mapping: dict[str, Any]) -> list[Any]:
    """``{field: value, …}`` as the flat argument list of HSET or XADD."""
    flat: list[Any] = []
    for field, value in mapping.items():
        flat += (field, value)
    return flat


class _Replies(asyncio.Protocol):
    """Counts the replies of the batches written on one connection, in order."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._reader = hiredis.Reader()
        # Per batch written and not fully answered: [replies still due, future, errors].
        self._due: deque[list[Any]] = deque()
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def expect(self, count: int) -> asyncio.Future[list[Exception]]:
        future: asyncio.Future[list[Exception]] = asyncio.get_running_loop().create_future()
        self._due.append([count, future, []])
        return future

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        due = self._due
        while True:
            try:
                reply = self._reader.gets()
            except hiredis.ProtocolError as exc:
                self.fail(RedisConnectionError(f"unreadable reply from Redis: {exc}"))
                return
            if reply is False:
                return
            if not due:  # nothing asked for it: the connection is out of step
                self.fail(RedisConnectionError("unexpected reply from Redis"))
                return
            entry = due[0]
            if isinstance(reply, hiredis.ReplyError):
                entry[2].append(reply)
            entry[0] -= 1
            if entry[0] == 0:
                due.popleft()
                if not entry[1].done():
                    entry[1].set_result(entry[2])

    @property
    def usable(self) -> bool:
        """Open, and not being closed (an aborted connection hears of it a moment later)."""
        transport = self.transport
        return self.lost is None and transport is not None and not transport.is_closing()

    def timed_out(self) -> None:
        self.fail(RedisTimeoutError("Redis did not answer in time"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = RedisConnectionError(f"connection to Redis lost: {exc or 'closed'}")
        self._settle(self.lost)

    def fail(self, exc: Exception) -> None:
        """Fail every batch waiting here and drop the connection."""
        self._settle(exc)
        if self.transport is not None:
            self.transport.abort()

    def _settle(self, exc: Exception) -> None:
        while self._due:
            future = self._due.popleft()[1]
            if not future.done():
                future.set_exception(exc)


class RedisWriter:
    """One connection (opened on first use, and again after it was lost) to write
    :class:`CommandBatch` es on; :meth:`execute` waits for all the batch's replies."""

    def __init__(self, url: str, *, client_name: str, timeout: float) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or DEFAULT_PORT
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        db = parts.path.lstrip("/")
        self._db = int(db) if db else 0
        self._client_name = client_name
        self._timeout = timeout
        self._conn: _Replies | None = None

    @staticmethod
    def supports(url: str) -> bool:
        """Whether ``url`` is one this writer opens: plain TCP (no TLS, no socket path),
        a database number at most, no options."""
        parts = urlsplit(url)
        db = parts.path.lstrip("/")
        return parts.scheme == "redis" and not parts.query and (db == "" or db.isdigit())

    async def _connect(self) -> _Replies:
        loop = asyncio.get_running_loop()
        try:
            _transport, conn = await asyncio.wait_for(
                loop.create_connection(_Replies, self._host, self._port), self._timeout
            )
        except TimeoutError as exc:
            raise RedisTimeoutError("connecting to Redis timed out") from exc
        hello = CommandBatch()
        if self._password is not None:
            if self._username is not None:
                hello._add(b"AUTH", self._username, self._password)
            else:
                hello._add(b"AUTH", self._password)
        if self._db:
            hello._add(b"SELECT", self._db)
        hello._add(b"CLIENT", b"SETNAME", self._client_name)
        errors = await self._send(conn, hello)
        if errors:
            conn.transport.abort()  # type: ignore[union-attr]
            raise RedisConnectionError(f"Redis refused the connection set-up: {errors[0]}")
        return conn

    async def _send(self, conn: _Replies, batch: CommandBatch) -> list[Exception]:
        assert conn.transport is not None
        answered = conn.expect(batch.count)
        conn.transport.write(b"".join(batch.packed))
        timer = asyncio.get_running_loop().call_later(self._timeout, conn.timed_out)
        try:
            return await answered
        finally:
            timer.cancel()

    async def execute(self, batch: CommandBatch) -> list[Exception]:
        """Send ``batch`` and wait for its replies; the commands Redis refused.

        Raises :class:`redis.exceptions.ConnectionError` or ``TimeoutError`` (both
        ``RedisError``) when Redis cannot be reached or does not answer in time.
        """
        if not batch.count:
            return []
        conn = self._conn
        if conn is None or not conn.usable:
            conn = self._conn = await self._connect()
        return await self._send(conn, batch)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and conn.transport is not None:
            with contextlib.suppress(Exception):
                conn.transport.close()
