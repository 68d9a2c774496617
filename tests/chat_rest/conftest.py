"""Fixtures for the chat REST tests (their helpers are in ``tests.chat_rest.helpers``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import orjson
import pytest_asyncio


@pytest_asyncio.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: orjson.dumps(v).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
    )
    yield conn
    await conn.close()
