"""Group test fixtures: a recording event bus and helpers to build groups."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest_asyncio

from chatr_server.appkeys import SERVICES


class RecordingBus:
    """Stands in for the realtime layer: remembers every (user, event, payload)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []

    def to_user(self, user_id: str, event: str, payload: Any) -> None:
        self.sent.append((str(user_id), event, payload))

    def to_users(self, user_ids: Iterable[str], event: str, payload: Any) -> None:
        for user_id in user_ids:
            self.to_user(user_id, event, payload)

    async def is_online(self, user_id: str) -> bool:
        return False

    def clear(self) -> None:
        self.sent.clear()

    def events(self, name: str) -> list[tuple[str, Any]]:
        return [(user, payload) for user, event, payload in self.sent if event == name]

    def recipients(self, name: str) -> set[str]:
        return {user for user, _ in self.events(name)}

    def names(self) -> list[str]:
        return [event for _, event, _ in self.sent]


@pytest_asyncio.fixture
async def bus(client: Any) -> RecordingBus:
    recording = RecordingBus()
    client.app[SERVICES].bus = recording
    return recording
