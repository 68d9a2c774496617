"""How services announce events to connected clients, without knowing sockets.

Services call ``bus.to_user(user_id, "group:updated", payload)``; the
realtime layer implements this by emitting to the room ``user:<id>`` (on
every process, once fan-out goes through Redis). Emission is fire-and-forget
and never blocks the caller. ``is_online`` asks whether a user has at least
one live connection anywhere.

The room commands are fire-and-forget too, and reach every process: users
who lost a group membership leave its legacy room (SEC-22), and the sockets
that authenticated with a revoked token are closed (SEC-24).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol


class EventBus(Protocol):
    def to_user(self, user_id: str, event: str, payload: Any) -> None: ...

    def to_users(self, user_ids: Iterable[str], event: str, payload: Any) -> None: ...

    async def is_online(self, user_id: str) -> bool: ...

    def leave_group_room(self, group_id: str, user_ids: Iterable[str] | None = None) -> None:
        """Take these users' sockets (everyone's when ``None``) out of the group's room."""
        ...

    def disconnect_token(self, token_hash: str) -> None:
        """Close every socket that authenticated with the token of this hash."""
        ...


class NullBus:
    """A bus with no listeners (used until the realtime layer is attached)."""

    def to_user(self, user_id: str, event: str, payload: Any) -> None:
        return None

    def to_users(self, user_ids: Iterable[str], event: str, payload: Any) -> None:
        return None

    async def is_online(self, user_id: str) -> bool:
        return False

    def leave_group_room(self, group_id: str, user_ids: Iterable[str] | None = None) -> None:
        return None

    def disconnect_token(self, token_hash: str) -> None:
        return None
