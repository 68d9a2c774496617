"""The asyncpg connection pool."""

from __future__ import annotations

import asyncpg
import orjson


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb columns (waveforms, link previews) arrive as Python objects.
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: orjson.dumps(value).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
    )


async def create_pool(dsn: str, size: int, connect_timeout: float) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=size,
        timeout=connect_timeout,
        command_timeout=30,
        init=_init_connection,
    )
    assert pool is not None
    return pool
