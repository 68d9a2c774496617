"""DM history pages and the conversation list (rest.md §0, §3, §4).

History is keyset-paginated on ``(created_at, id)`` over the pair index, so a
page costs the same at the start and at the end of a million-message chat.
The socket layer reuses both methods for ``messages:history`` and
``conversations:request``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from uuid import UUID

import asyncpg

from chatr_server.presenters.messages import conversation_entry, dm_message
from chatr_server.repos.messages import MessagesRepo
from chatr_server.services.attachments import Attachments
from chatr_server.services.directory import visible
from chatr_server.util.ids import parse_uuid

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


def clamp_limit(raw: object) -> int:
    """``limit`` from a query string or socket payload: default 50, clamped to 1..100."""
    if isinstance(raw, bool):
        return DEFAULT_LIMIT
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, float) and raw == raw and abs(raw) < 1e9:
        value = int(raw)
    elif isinstance(raw, str) and raw.strip().lstrip("+-").isdigit() and len(raw) < 12:
        value = int(raw.strip())
    else:
        return DEFAULT_LIMIT
    return max(1, min(MAX_LIMIT, value))


def pair(a: UUID, b: UUID) -> tuple[UUID, UUID]:
    """The pair's (user_lo, user_hi), the order the messages table stores."""
    return (a, b) if a <= b else (b, a)


class HistoryService:
    def __init__(self, pool: asyncpg.Pool, messages: MessagesRepo, links: Attachments) -> None:
        self._pool = pool
        self._messages = messages
        self._links = links

    async def history(
        self, user_id: str, other: object, limit: object = None, before: object = None
    ) -> dict[str, Any]:
        """A page of the caller's DMs with ``other``, oldest first, marking incoming as read.

        A non-UUID partner (the legacy ``/api/messages/history`` call) simply has
        no messages; an unknown or foreign ``before`` id is ignored.
        """
        me, them = parse_uuid(user_id), parse_uuid(other)
        if me is None or them is None:
            return {"messages": [], "hasMore": False}
        size = clamp_limit(limit)
        lo, hi = pair(me, them)
        anchor_id = parse_uuid(before) if before else None
        async with self._pool.acquire() as conn:
            anchor = (
                await self._messages.history_anchor(conn, anchor_id, lo, hi) if anchor_id else None
            )
            # One extra row tells whether an older page exists.
            if anchor is None:
                rows = await self._messages.history_latest(conn, lo, hi, size + 1)
            else:
                rows = await self._messages.history_before(
                    conn, lo, hi, anchor["created_at"], anchor["id"], size + 1
                )
            has_more = len(rows) > size
            rows = rows[:size]
            ids = [r["id"] for r in rows]
            reactions: dict[UUID, list[Any]] = defaultdict(list)
            if ids:
                for r in await self._messages.reactions_for(conn, ids):
                    reactions[r["message_id"]].append(r)
                unread = [r["id"] for r in rows if r["recipient_id"] == me and not r["is_read"]]
                if unread:
                    await self._messages.mark_read(conn, unread, me)
        # Rows are newest first; the page is delivered in ascending time order.
        sign = self._links.sign
        messages = [sign(dm_message(r, reactions.get(r["id"], ()))) for r in reversed(rows)]
        return {"messages": messages, "hasMore": has_more}

    async def conversations(self, user_id: str) -> dict[str, Any]:
        """One ConversationEntry per partner with at least one visible DM, newest first."""
        rows = await self._messages.conversation_list(self._pool, user_id)
        entries = []
        for row in rows:
            friend = row["is_friend"]
            entries.append(
                conversation_entry(
                    row,
                    user_id,
                    show_full_name=visible(row["privacy_full_name"], friend),
                    show_last_seen=visible(row["privacy_online_status"], friend),
                )
            )
        return {"conversations": entries}
