"""Fixtures for the social tests: the app's services, a recording bus, DB helpers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from chatr_server.appkeys import SERVICES
from chatr_server.services.container import Services
from tests.helpers import TestUser, make_user


class RecordingBus:
    """An EventBus that remembers every emission (stands in for the socket layer)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, Any]] = []

    def to_user(self, user_id: str, event: str, payload: Any) -> None:
        self.events.append((user_id, event, payload))

    def to_users(self, user_ids: Iterable[str], event: str, payload: Any) -> None:
        for user_id in user_ids:
            self.to_user(user_id, event, payload)

    async def is_online(self, user_id: str) -> bool:
        return False

    def named(self, event: str) -> list[tuple[str, Any]]:
        return [(u, p) for u, e, p in self.events if e == event]


@pytest.fixture
def services(client: Any) -> Services:
    return client.server.app[SERVICES]


@pytest.fixture
def bus(services: Services) -> RecordingBus:
    recorder = RecordingBus()
    services.bus = recorder
    return recorder


async def verified_user(client: Any, **overrides: Any) -> TestUser:
    """A user that search can find (registration via the API, then verified)."""
    user = await make_user(client, **overrides)
    pool = client.server.app[SERVICES].pool
    await pool.execute("UPDATE users SET email_verified = true WHERE id = $1", user.id)
    return user


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
