"""How services announce events to connected clients, without knowing sockets.

Services call ``bus.to_user(user_id, "group:updated", payload)``; the
realtime layer implements this by emitting to the room ``user:<id>`` (on
every process, once fan-out goes through Redis). Emission is fire-and-forget
and never blocks the caller. ``is_online`` asks whether a user has at least
one live connection anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol


class EventBus(Protocol):
    def to_user(self, user_id: str, event: str, payload: Any) -> None: ...

    def to_users(self, user_ids: Iterable[str], event: str, payload: Any) -> None: ...

    async def is_online(self, user_id: str) -> bool: ...


class NullBus:
    """A bus with no listeners (used until the realtime layer is attached)."""

    def to_user(self, user_id: str, event: str, payload: Any) -> None:
        return None

    def to_users(self, user_ids: Iterable[str], event: str, payload: Any) -> None:
        return None

    async def is_online(self, user_id: str) -> bool:
        return False
