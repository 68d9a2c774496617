"""The asyncpg connection pool.

Every wait on the database is bounded, so an outage answers a request with a
prompt 503 instead of holding it: connecting (``timeout``), each statement
(``command_timeout``) and waiting for a free pooled connection
(:class:`BoundedPool`). Dead connections (a PostgreSQL restart closes them
all) are replaced by the pool when next acquired.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import orjson

# Statements longer than this are cut (asyncio.TimeoutError): the slowest
# legitimate query takes well under a second.
COMMAND_TIMEOUT_S = 30.0


def _json_default(value: object) -> str:
    """What orjson does not write on its own: asyncpg's UUID (ids read from the database
    going back in a jsonb parameter) is a subclass of the stdlib one, which orjson only
    knows exactly."""
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _encode_json(value: Any) -> str:
    return orjson.dumps(value, default=_json_default).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb columns (waveforms, link previews) arrive as Python objects.
    await conn.set_type_codec(
        "jsonb",
        encoder=_encode_json,
        decoder=orjson.loads,
        schema="pg_catalog",
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's per-release RESET ALL / UNLISTEN round trip.

    The application never changes session state (no SET, LISTEN, temporary
    tables or session-level advisory locks on pooled connections), so the
    reset query would cost a database round trip per request for nothing:
    profiling showed it at about 13% of the server's CPU under message load.
    """


class BoundedPool(asyncpg.Pool):
    """A pool whose ``acquire()`` gives up after ``acquire_timeout`` seconds by default.

    asyncpg waits for ever for a free connection unless each caller passes a
    timeout (``pool.fetch`` and friends pass none). ``asyncio.timeout`` rather
    than asyncpg's own timeout argument, which wraps each acquire in an extra
    task on Python 3.11.
    """

    def __init__(self, *args: Any, acquire_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acquire_timeout = acquire_timeout

    async def _acquire(self, timeout: float | None) -> Any:  # noqa: ASYNC109 - asyncpg hook
        if timeout is not None:
            return await super()._acquire(timeout)
        async with asyncio.timeout(self._acquire_timeout):
            return await super()._acquire(None)


async def create_pool(dsn: str, size: int, connect_timeout: float) -> asyncpg.Pool:
    """``connect_timeout`` bounds both connecting and waiting for a pooled connection."""
    pool = BoundedPool(
        dsn,
        # No floor to maintain: asyncpg re-connects a floor during an outage with
        # a traceback per attempt. Connections stay open while in use anyway
        # (the start-up migration check leaves the first one idle in the pool).
        min_size=0,
        max_size=size,
        max_queries=50_000,
        max_inactive_connection_lifetime=300.0,
        setup=None,
        init=_init_connection,
        reset=_keep_session,
        connect=None,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        timeout=connect_timeout,
        command_timeout=COMMAND_TIMEOUT_S,
        acquire_timeout=connect_timeout,
        # No JIT: it compiles for tens of milliseconds any plan whose estimated cost
        # passes jit_above_cost, which batched statements (a storm's handshakes, over
        # arrays of a few hundred users) reach while running in about as long.
        server_settings={"jit": "off"},
    )
    await pool
    return pool
