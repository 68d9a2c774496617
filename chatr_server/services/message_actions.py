"""Reactions, edits and unsend of direct messages (events.md §6.1, behaviors.md §6).

Each action is allowed only to the right participant (SEC-12): reactions to
either participant, edits and unsend to the sender.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from chatr_server.errors import forbidden, not_found
from chatr_server.repos.message_actions import MessageActionsRepo
from chatr_server.services.bus import EventBus
from chatr_server.services.message_input import MAX_CONTENT_CHARS, InvalidPayload
from chatr_server.util.timefmt import iso_ms

# Emoji are free text in the contract; a bound keeps rows small.
MAX_EMOJI_CHARS = 32


class MessageActionsService:
    def __init__(self, pool: asyncpg.Pool, repo: MessageActionsRepo, bus: EventBus) -> None:
        self._pool = pool
        self._repo = repo
        self._bus = bus

    def _both(self, row: Any) -> list[str]:
        return [str(row["sender_id"]), str(row["recipient_id"])]

    async def react(self, user_id: str, message_id: UUID, emoji: Any) -> None:
        if not isinstance(emoji, str) or not emoji or len(emoji) > MAX_EMOJI_CHARS:
            raise InvalidPayload()
        async with self._pool.acquire() as conn, conn.transaction():
            row = await self._repo.participants(conn, message_id)
            if row is None or user_id not in self._both(row):
                raise InvalidPayload("Message not found")
            if not await self._repo.remove_same_reaction(conn, message_id, user_id, emoji):
                await self._repo.upsert_reaction(conn, message_id, user_id, emoji)
            reactions = await self._repo.reactions(conn, message_id)
        payload = {
            "messageId": str(message_id),
            "reactions": [
                {"userId": str(r["user_id"]), "username": r["username"], "emoji": r["emoji"]}
                for r in reactions
            ],
        }
        self._bus.to_users(self._both(row), "message:reaction", payload)

    async def edit(self, user_id: str, message_id: UUID, content: str) -> None:
        content = content.strip()
        if len(content) > MAX_CONTENT_CHARS:
            raise InvalidPayload(f"Message content must be at most {MAX_CONTENT_CHARS} characters")
        async with self._pool.acquire() as conn, conn.transaction():
            row = await self._repo.participants(conn, message_id)
            if row is None or user_id not in self._both(row):
                raise InvalidPayload("Message not found")
            if str(row["sender_id"]) != user_id:
                raise InvalidPayload("Not authorised to edit this message")
            if row["deleted_at"] is not None:
                raise InvalidPayload("Cannot edit an unsent message")
            if row["type"] != "text":
                raise InvalidPayload("Only text messages can be edited")
            await self._repo.record_edit(conn, message_id, user_id, row["content"])
            edited_at = await self._repo.apply_edit(conn, message_id, content)
        self._bus.to_users(
            self._both(row),
            "message:edited",
            {"messageId": str(message_id), "content": content, "editedAt": iso_ms(edited_at)},
        )

    async def unsend(self, user_id: str, sender_name: str, message_id: UUID) -> None:
        recipient = await self._repo.unsend(self._pool, message_id, user_id)
        if recipient is None:
            return  # not the sender, unknown, or already unsent: ignored
        self._bus.to_users(
            [user_id, str(recipient)],
            "message:unsent",
            {"messageId": str(message_id), "senderDisplayName": sender_name},
        )

    async def edit_history(self, user_id: str, message_id: UUID | None) -> dict[str, Any]:
        """``GET /api/messages/:id/edits``: both participants may read it."""
        row = await self._repo.participants(self._pool, message_id) if message_id else None
        if row is None:
            raise not_found("Message not found")
        if user_id not in self._both(row):
            raise forbidden("Forbidden")
        edits = await self._repo.edits(self._pool, message_id)
        return {
            "messageId": str(message_id),
            "edits": [
                {
                    "id": str(e["id"]),
                    "previousContent": e["previous_content"],
                    "editedAt": iso_ms(e["edited_at"]),
                    "editedBy": {
                        "id": str(e["editor_id"]),
                        "username": e["username"],
                        "displayName": e["display_name"],
                    },
                }
                for e in edits
            ],
        }
