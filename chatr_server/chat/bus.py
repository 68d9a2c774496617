"""The EventBus of the services, implemented with the realtime layer's rooms."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chatr_server.chat.context import group_room, token_room, user_room
from chatr_server.realtime import Namespace
from chatr_server.services.presence import PresenceService


class RealtimeBus:
    def __init__(self, namespace: Namespace, presence: PresenceService) -> None:
        self._ns = namespace
        self._presence = presence

    def to_user(self, user_id: str, event: str, payload: Any) -> None:
        self._ns.emit(event, payload, to=user_room(user_id))

    def to_users(self, user_ids: Iterable[str], event: str, payload: Any) -> None:
        rooms = [user_room(uid) for uid in user_ids]
        if rooms:
            # One encode, one pass over the rooms: each socket gets it once.
            self._ns.emit(event, payload, to=rooms)

    async def is_online(self, user_id: str) -> bool:
        return await self._presence.is_online(user_id)

    def leave_group_room(self, group_id: str, user_ids: Iterable[str] | None = None) -> None:
        room = group_room(group_id)
        if user_ids is None:
            self._ns.sockets_leave(room, room)
            return
        rooms = [user_room(uid) for uid in user_ids]
        if rooms:
            self._ns.sockets_leave(rooms, room)

    def disconnect_token(self, token_hash: str) -> None:
        self._ns.disconnect_sockets(token_room(token_hash))
