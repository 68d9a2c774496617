"""The support inbox: the agent's view of widget guests (rest.md §10).

Only an account flagged ``isSupport`` may use it. Replies go out as ordinary
DMs from the agent; the pair's conversation is created sorted through the
same SQL function as every other DM (the original stored it unsorted).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from chatr_server.errors import bad_request, forbidden, not_found
from chatr_server.repos.admin import AdminRepo
from chatr_server.repos.widget import WidgetRepo
from chatr_server.services.attachments import Attachments
from chatr_server.services.bus import EventBus
from chatr_server.util.ids import parse_uuid
from chatr_server.util.timefmt import iso_ms

MAX_REPLY_CHARS = 20_000


def _sender(display_name: str | None, is_guest: bool, is_support: bool) -> dict[str, Any]:
    return {"displayName": display_name, "isGuest": is_guest, "isSupport": is_support}


class AdminService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        repo: AdminRepo,
        widget_repo: WidgetRepo,
        bus: EventBus,
        *,
        links: Attachments,
    ) -> None:
        self._pool = pool
        self._links = links
        self._repo = repo
        self._widget = widget_repo
        self._bus = bus

    async def require_support(self, user_id: str) -> None:
        if not await self._repo.is_support(self._pool, user_id):
            raise forbidden("Support access required")

    async def _guest(self, guest_id: str) -> tuple[UUID, Any]:
        parsed = parse_uuid(guest_id)
        row = await self._repo.guest(self._pool, parsed) if parsed is not None else None
        if parsed is None or row is None:
            raise not_found("Guest not found")
        return parsed, row

    async def contacts(self) -> list[dict[str, Any]]:
        rows = await self._repo.widget_contacts(self._pool)
        return [
            {
                "id": str(r["id"]),
                "name": r["display_name"],
                "contactEmail": r["contact_email"],
                "createdAt": iso_ms(r["created_at"]),
                "hasConversation": r["total_messages"] > 0,
                "totalMessages": r["total_messages"],
                "firstMessage": (
                    {"content": r["first_content"], "createdAt": iso_ms(r["first_created_at"])}
                    if r["first_created_at"] is not None
                    else None
                ),
            }
            for r in rows
        ]

    async def guest_messages(self, guest_id: str) -> dict[str, Any]:
        parsed, guest = await self._guest(guest_id)
        rows = await self._repo.guest_messages(self._pool, parsed)
        return {
            "guest": {
                "id": str(guest["id"]),
                "displayName": guest["display_name"],
                "contactEmail": guest["contact_email"],
                "widgetContext": guest["widget_context"],
            },
            "messages": [
                {
                    "id": str(r["id"]),
                    # A widget upload's content is its file URL: shown signed (SEC-17).
                    "content": (
                        self._links.link(r["content"])
                        if r["file_url"] and r["content"] == r["file_url"]
                        else r["content"]
                    ),
                    "type": r["type"],
                    "senderId": str(r["sender_id"]),
                    "recipientId": str(r["recipient_id"]),
                    "createdAt": iso_ms(r["created_at"]),
                    "sender": _sender(
                        r["sender_display_name"], r["sender_is_guest"], r["sender_is_support"]
                    ),
                }
                for r in rows
            ],
        }

    async def delete_guest(self, guest_id: str) -> dict[str, Any]:
        parsed = parse_uuid(guest_id)
        if parsed is None or not await self._repo.delete_guest(self._pool, parsed):
            raise not_found("Guest not found")
        return {"success": True}

    async def reply(self, support_id: str, guest_id: str, content: Any) -> dict[str, Any]:
        """A text DM from the agent to the guest, in an accepted conversation."""
        if not isinstance(content, str) or not content.strip():
            raise bad_request("Message content is required")
        text = content.strip()
        if len(text) > MAX_REPLY_CHARS:
            raise bad_request(f"Message too long (max {MAX_REPLY_CHARS} characters)")
        parsed, _guest = await self._guest(guest_id)
        async with self._pool.acquire() as conn, conn.transaction():
            conversation = await self._widget.conversation_for_pair(conn, support_id, parsed)
            await self._widget.accept_conversation(conn, conversation["id"])
            row = await self._widget.insert_message(
                conn, (support_id, parsed, text, "text", None, None, None, None)
            )
            card = await self._repo.sender_card(conn, support_id)
        message = {
            "id": str(row["id"]),
            "senderId": str(row["sender_id"]),
            "recipientId": str(row["recipient_id"]),
            "content": row["content"],
            "type": row["type"],
            "createdAt": iso_ms(row["created_at"]),
            "sender": _sender(
                card["display_name"] if card else None,
                bool(card and card["is_guest"]),
                bool(card and card["is_support"]),
            ),
        }
        self._bus.to_user(str(parsed), "message:received", message)
        return {"message": message}
