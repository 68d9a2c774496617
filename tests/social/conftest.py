"""Fixtures for the social tests: the app's services and DB helpers (the bus is in tests/conftest.py)."""

from __future__ import annotations

from typing import Any

import pytest

from chatr_server.appkeys import SERVICES
from chatr_server.container import Services


@pytest.fixture
def services(client: Any) -> Services:
    return client.server.app[SERVICES]


async def insert_dm(client: Any, sender: str, recipient: str, content: str = "hi") -> str:
    pool = client.server.app[SERVICES].pool
    row = await pool.fetchval(
        "INSERT INTO messages (sender_id, recipient_id, content) VALUES ($1, $2, $3) RETURNING id",
        sender,
        recipient,
        content,
    )
    return str(row)


async def count_dms(client: Any, a: str, b: str) -> int:
    pool = client.server.app[SERVICES].pool
    return await pool.fetchval(
        "SELECT count(*) FROM messages WHERE (sender_id = $1 AND recipient_id = $2)"
        " OR (sender_id = $2 AND recipient_id = $1)",
        a,
        b,
    )
