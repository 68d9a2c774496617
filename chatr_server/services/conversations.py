"""Direct conversations: the message request and its answers, and the nukes.

rest.md §6; behaviors.md §3–4. A pair's Conversation row is created on first
contact (``pending`` unless the two are friends); the non-initiator accepts or
declines it; either participant may nuke it. One method per operation serves
both the REST route and its socket RPC twin. Errors use the ``error`` key.

Every operation on a named conversation starts the same way: lock the row in a
transaction and refuse (403, one text for "missing" and "not yours", so
strangers learn nothing) unless the caller is a participant. :meth:`_locked`
is that prelude.

Who hears that users' conversation lists changed (a cache to drop, for
instance) subscribes with :meth:`on_lists_changed`; friendship changes publish
there too, through :meth:`lists_changed`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import asyncpg
from asyncpg import Record

from chatr_server.errors import ServiceError
from chatr_server.presenters.social import conversation_row
from chatr_server.repos.conversations import ConversationsRepo
from chatr_server.repos.types import Executor
from chatr_server.services.bus import EventBus
from chatr_server.util.ids import uuid_text

log = logging.getLogger(__name__)

ConversationsListener = Callable[[Sequence[str]], Awaitable[None]]

DENIED = "Not authorised or conversation not found"


def _denied() -> ServiceError:
    return ServiceError(403, DENIED)


def _participants(row: Record) -> tuple[str, str]:
    return str(row["participant_a"]), str(row["participant_b"])


class ConversationService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        conversations: ConversationsRepo,
        bus: EventBus,
    ) -> None:
        self._pool = pool
        self._repo = conversations
        self._bus = bus
        self._listeners: list[ConversationsListener] = []

    # ---- conversation-list change notifications -------------------------

    def on_lists_changed(self, listener: ConversationsListener) -> None:
        """Register a callback given the users whose conversation list changed."""
        self._listeners.append(listener)

    async def lists_changed(self, user_ids: Iterable[str]) -> None:
        """Tell every listener; a failing listener never fails the change itself."""
        ids = list(dict.fromkeys(user_ids))
        for listener in self._listeners:
            try:
                await listener(ids)
            except Exception:
                log.exception("conversation-list listener failed")

    # ---- the pair's row --------------------------------------------------

    async def get_or_create(
        self, db: Executor, sender: str | UUID, recipient: str | UUID
    ) -> Record:
        """The pair's Conversation row, created on first contact (race-safe).

        New rows: sorted pair, ``initiator = sender``, ``accepted`` iff the two
        are friends right now, else ``pending``. Concurrent first messages all
        get the one row: the insert ignores the conflict, then we read it back.
        Raises 400 for a self-conversation and 404 for an unknown user.
        """
        s, r = uuid_text(sender), uuid_text(recipient)
        if s is None or r is None:
            raise ServiceError(404, "User not found")
        if s == r:
            raise ServiceError(400, "Cannot message yourself")
        try:
            return await self._repo.get_or_create(db, s, r)
        except asyncpg.ForeignKeyViolationError:
            raise ServiceError(404, "User not found") from None

    @asynccontextmanager
    async def _locked(
        self, caller_id: str, conversation_id: object
    ) -> AsyncIterator[tuple[asyncpg.Connection, Record]]:
        """The caller's conversation row, locked in an open transaction; 403 otherwise."""
        cid = uuid_text(conversation_id)
        if cid is None:
            raise _denied()
        async with self._pool.acquire() as conn, conn.transaction():
            row = await self._repo.by_id_for_update(conn, cid)
            if row is None or caller_id not in _participants(row):
                raise _denied()
            yield conn, row

    # ---- message requests ------------------------------------------------

    async def accept(self, caller_id: str, conversation_id: object) -> dict[str, Any]:
        """The non-initiator accepts a pending request; an accepted one is returned as is."""
        async with self._locked(caller_id, conversation_id) as (conn, row):
            if row["status"] == "accepted":
                return {"conversation": conversation_row(row)}
            if str(row["initiator_id"]) == caller_id:
                raise _denied()
            row = await self._repo.accept(conn, row["id"])
            assert row is not None
        cid = str(row["id"])
        self._bus.to_user(
            str(row["initiator_id"]),
            "conversation:accepted",
            {"conversationId": cid, "acceptedBy": caller_id},
        )
        await self.lists_changed(_participants(row))
        return {"conversation": conversation_row(row)}

    async def decline(self, caller_id: str, conversation_id: object) -> dict[str, Any]:
        """The non-initiator refuses: every DM of the pair and the row are deleted."""
        async with self._locked(caller_id, conversation_id) as (conn, row):
            if str(row["initiator_id"]) == caller_id:
                raise _denied()
            await self._wipe(conn, row)
        self._bus.to_user(
            str(row["initiator_id"]),
            "conversation:declined",
            {"conversationId": str(row["id"]), "declinedBy": caller_id, "otherUserId": caller_id},
        )
        await self.lists_changed(_participants(row))
        return {"success": True}

    # ---- nukes -----------------------------------------------------------

    async def nuke(
        self, caller_id: str, conversation_id: object, *, delete_guests: bool = True
    ) -> dict[str, Any]:
        """Either participant wipes the pair's DMs and row; guest participants go too (REST)."""
        async with self._locked(caller_id, conversation_id) as (conn, row):
            await self._wipe(conn, row)
        a, b = _participants(row)
        await self._after_nuke(caller_id, a, b, str(row["id"]), delete_guests)
        return {"success": True}

    async def nuke_by_user(
        self, caller_id: str, recipient_id: object, *, delete_guests: bool = True
    ) -> dict[str, Any]:
        """Wipe every DM with ``recipient`` and the pair's row, if any (no existence check).

        SEC-21: the guest clean-up only follows when the caller really shared something
        with the recipient (a conversation row or messages); a stranger's nuke of a
        widget guest deletes nothing of the guest and its support thread.
        """
        other = uuid_text(recipient_id)
        if other is None:
            raise ServiceError(400, "Invalid recipient id")
        if other == caller_id:
            return {"success": True}
        # The sorted pair (canonical lowercase UUID text sorts like the uuid type).
        a, b = sorted((caller_id, other))
        async with self._pool.acquire() as conn, conn.transaction():
            messages = await self._repo.delete_pair_messages(conn, a, b)
            row = await self._repo.delete_pair(conn, a, b)
        shared = messages > 0 or row is not None
        await self._after_nuke(caller_id, a, b, None, delete_guests and shared)
        return {"success": True}

    async def _wipe(self, conn: asyncpg.Connection, row: Record) -> None:
        await self._repo.delete_pair_messages(conn, row["participant_a"], row["participant_b"])
        await self._repo.delete(conn, row["id"])

    async def _after_nuke(
        self, caller_id: str, a: str, b: str, cid: str | None, delete_guests: bool
    ) -> None:
        bus = self._bus
        # Each side is told who "the other person" is from its own point of view.
        for me, other in ((a, b), (b, a)):
            bus.to_user(
                me,
                "conversation:declined",
                {"conversationId": cid, "declinedBy": caller_id, "otherUserId": other},
            )
        await self.lists_changed((a, b))
        if delete_guests:
            removed = await self._repo.delete_guests(self._pool, (a, b))
            if removed:
                log.info("deleted %d guest account(s) after a conversation nuke", len(removed))
