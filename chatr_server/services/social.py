"""Friends, blocks and privacy settings.

rest.md §3 (settings), §5 (friends); behaviors.md §3, §7–8. Message requests
(the Conversation rows) are :mod:`chatr_server.services.conversations`.

One method per operation serves both the REST route and its socket RPC twin,
so the two can never drift. Friends errors use the ``message`` key, as the
contract requires for ``/api/friends``; settings errors use ``error``.

The socket layer also reuses the primitives at the top of the class
(``block_state``, ``are_friends``, ``connected_and_pending``, ``friendship_refs``,
``verify_friend_notify``, ``friend_update_from``).
They take a ``db`` (pool or connection) so callers can run them inside their
own transaction.

Block rows are per direction (requester = blocker). Only the blocker can ever
remove their block, and the blocked party never sees its row (SEC-14).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any, Literal
from uuid import UUID

import asyncpg
from asyncpg import Record

from chatr_server.errors import ServiceError
from chatr_server.presenters.social import (
    PRIVACY_LEVELS,
    friendship_ref,
    friendship_row,
    user_card,
)
from chatr_server.repos.friendships import FriendshipsRepo
from chatr_server.repos.types import Executor
from chatr_server.services.conversations import ConversationService
from chatr_server.services.dependencies import is_dependency_outage
from chatr_server.store import KeyValueStore
from chatr_server.util.ids import uuid_text

log = logging.getLogger(__name__)

BlockState = Literal["by_a", "by_b"]

FRIEND_SEARCH_LIMIT = 20
FRIEND_SEARCH_MIN = 2
FRIEND_SEARCH_MAX = 100
PRIVACY_KEYS = (
    "privacyOnlineStatus",
    "privacyPhone",
    "privacyEmail",
    "privacyFullName",
    "privacyGender",
    "privacyJoinedDate",
)
NOTIFY_TYPES = frozenset(
    {"request", "accepted", "declined", "cancelled", "removed", "blocked", "unblocked"}
)
# How long a completed change may still be announced with friend:notify.
NOTIFY_WINDOW_S = 300
_DELETED_TYPES = ("declined", "cancelled", "removed")


def _friends_error(status: int, message: str) -> ServiceError:
    return ServiceError(status, message, key="message")


class SocialService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        friendships: FriendshipsRepo,
        conversations: ConversationService,
        store: KeyValueStore,
    ) -> None:
        self._pool = pool
        self._friends = friendships
        # Friendship changes change conversation lists: they are published there.
        self._conversations = conversations
        self._store = store

    async def _conversations_changed(self, user_ids: Iterable[str]) -> None:
        await self._conversations.lists_changed(user_ids)

    # ---- primitives shared with the socket layer ------------------------

    async def block_state(self, db: Executor, a: str | UUID, b: str | UUID) -> BlockState | None:
        """``"by_a"`` when a has blocked b (whether or not b blocked a too), ``"by_b"``
        when only b has blocked a, ``None`` when neither. Any truthy value = blocked."""
        by_a, by_b = await self._friends.block_flags(db, a, b)
        if by_a:
            return "by_a"
        if by_b:
            return "by_b"
        return None

    async def are_friends(self, db: Executor, a: str | UUID, b: str | UUID) -> bool:
        """An accepted friendship exists between a and b."""
        return await self._friends.are_friends(db, a, b)

    async def connected_and_pending(
        self, db: Executor, user_id: str | UUID
    ) -> tuple[set[str], set[str]]:
        """C(u) and P(u) of behaviors.md §3 as sets of user id strings (P ⊆ C).

        Presence goes to ``C - P``.
        """
        rows = await self._friends.connected(db, user_id)
        connected = {str(r["other_id"]) for r in rows}
        pending = {str(r["other_id"]) for r in rows if r["pending_outgoing"]}
        return connected, pending

    async def visible_peers(self, db: Executor, user_id: str | UUID) -> list[str]:
        """C − P: the users who receive this user's live status and profile updates."""
        connected, pending = await self.connected_and_pending(db, user_id)
        return sorted(connected - pending)

    async def friendship_refs(
        self, db: Executor, viewer_id: str, user_ids: Sequence[str | UUID]
    ) -> dict[str, dict[str, Any] | None]:
        """FriendshipRef (or ``None``) of the viewer towards each user, for search results.

        Another user's block of the viewer is never shown (SEC-14).
        """
        refs: dict[str, dict[str, Any] | None] = {str(u): None for u in user_ids}
        if not refs:
            return refs
        for row in await self._friends.refs_for(db, viewer_id, list(refs)):
            refs[str(row["other_id"])] = friendship_ref(
                row["id"], row["requester_id"], row["status"], viewer_id
            )
        return refs

    async def verify_friend_notify(
        self,
        caller_id: str,
        type_: object,
        addressee_id: object,
        friendship_id: object = None,
    ) -> bool:
        """Did the caller really just make this change towards ``addressee_id``?

        Every successful friends operation leaves a short-lived record of
        (actor, other user, type, friendship id); a ``friend:notify`` is relayed
        only if it matches one, which is then consumed (no replays). A given
        ``friendshipId`` must match the record's.
        """
        other = uuid_text(addressee_id)
        if not isinstance(type_, str) or type_ not in NOTIFY_TYPES or other is None:
            return False
        if friendship_id is not None and uuid_text(friendship_id) is None:
            return False
        key = self._notify_key(caller_id, other, type_)
        try:
            recorded = await self._store.get(key)
            if recorded is None:
                return False
            if friendship_id is not None and recorded and recorded != uuid_text(friendship_id):
                return False
            await self._store.delete(key)
        except Exception as exc:
            if is_dependency_outage(exc) is None:  # an outage is logged by the monitor
                log.warning("friend:notify check failed: store unavailable", exc_info=True)
            return False
        return True

    async def friend_update_from(self, db: Executor, user_id: str) -> dict[str, Any] | None:
        """The ``from`` object of ``friend:update``, fresh from the database."""
        row = await self._friends.card_user(db, user_id)
        if row is None:
            return None
        return {
            "id": str(row["u_id"]),
            "username": row["u_username"],
            "displayName": row["u_display_name"],
            "profileImage": row["u_profile_image"],
        }

    @staticmethod
    def _notify_key(actor: str, other: str, type_: str) -> str:
        return f"social:notify:{actor}:{other}:{type_}"

    async def _record_change(
        self, actor: str, other: str, types: Sequence[str], friendship_id: object
    ) -> None:
        value = str(friendship_id) if friendship_id is not None else ""
        try:
            for type_ in types:
                await self._store.set(self._notify_key(actor, other, type_), value, NOTIFY_WINDOW_S)
        except Exception as exc:
            # The change itself succeeded; only its live announcement is lost.
            if is_dependency_outage(exc) is None:  # an outage is logged by the monitor
                log.warning("could not record friendship change for friend:notify", exc_info=True)

    # ---- friends: reads --------------------------------------------------

    async def list_friends(self, caller_id: str) -> dict[str, Any]:
        rows = await self._friends.list_friends(self._pool, caller_id)
        return {
            "friends": [
                {
                    "friendshipId": str(r["id"]),
                    "since": friendship_row(r)["updatedAt"],
                    "user": user_card(r, caller_id, True),
                }
                for r in rows
            ]
        }

    async def incoming_requests(self, caller_id: str) -> dict[str, Any]:
        rows = await self._friends.list_incoming(self._pool, caller_id)
        return {"requests": [self._request_entry(r, caller_id) for r in rows]}

    async def outgoing_requests(self, caller_id: str) -> dict[str, Any]:
        rows = await self._friends.list_outgoing(self._pool, caller_id)
        return {"requests": [self._request_entry(r, caller_id) for r in rows]}

    async def blocked_users(self, caller_id: str) -> dict[str, Any]:
        rows = await self._friends.list_blocked(self._pool, caller_id)
        return {"blocked": [self._request_entry(r, caller_id) for r in rows]}

    @staticmethod
    def _request_entry(row: Record, viewer_id: str) -> dict[str, Any]:
        return {
            "friendshipId": str(row["id"]),
            "createdAt": friendship_row(row)["createdAt"],
            "user": user_card(row, viewer_id, False),
        }

    async def search(self, caller_id: str, q: object) -> dict[str, Any]:
        """Up to 20 users by username, display name or (when visible) full name; never email."""
        if q is None:
            q = ""
        if not isinstance(q, str):
            raise _friends_error(400, "q must be a string")
        # PostgreSQL text cannot hold NUL; such a needle can match nothing anyway.
        needle = q.replace("\x00", "").strip()[:FRIEND_SEARCH_MAX]
        if len(needle) < FRIEND_SEARCH_MIN:
            return {"users": []}
        rows = await self._friends.search(self._pool, caller_id, needle, FRIEND_SEARCH_LIMIT)
        users = []
        for r in rows:
            ref = None
            if r["f_id"] is not None:
                ref = friendship_ref(r["f_id"], r["f_requester_id"], r["f_status"], caller_id)
            card = user_card(r, caller_id, r["f_status"] == "accepted")
            users.append({**card, "friendship": ref})
        return {"users": users}

    async def block_status(self, caller_id: str, target_id: object) -> dict[str, Any]:
        target = self._target(target_id)
        by_me, by_them = await self._friends.block_flags(self._pool, caller_id, target)
        if not (by_me or by_them):
            return {"blocked": False}
        return {"blocked": True, "blockedByMe": by_me}

    # ---- friends: changes ------------------------------------------------

    async def send_request(self, caller_id: str, addressee_id: object) -> dict[str, Any]:
        """New request (body without ``autoAccepted``: HTTP 201), or accept theirs (200)."""
        if addressee_id is None or addressee_id == "" or not isinstance(addressee_id, str):
            raise _friends_error(400, "addresseeId required")
        other = uuid_text(addressee_id)
        if other == caller_id:
            raise _friends_error(400, "Cannot add yourself")
        if other is None:
            raise _friends_error(404, "User not found")
        auto = False
        async with self._pool.acquire() as conn, conn.transaction():
            await self._friends.lock_pair(conn, caller_id, other)
            if not await self._friends.user_exists(conn, other):
                raise _friends_error(404, "User not found")
            rows = await self._friends.between(conn, caller_id, other)
            if any(r["status"] == "blocked" for r in rows):
                raise _friends_error(409, "Cannot send request")
            live = rows[0] if rows else None
            if live is not None and live["status"] == "accepted":
                raise _friends_error(409, "Already friends")
            if live is not None and str(live["requester_id"]) == caller_id:
                raise _friends_error(409, "Request already sent")
            try:
                if live is not None:
                    row = await self._friends.accept(conn, live["id"])
                    auto = True
                else:
                    row = await self._friends.insert(conn, caller_id, other, "pending")
            except asyncpg.ForeignKeyViolationError:
                raise _friends_error(404, "User not found") from None
            assert row is not None
            full = await self._full(conn, row, caller_id)
        if auto:
            await self._record_change(caller_id, other, ("accepted", "request"), row["id"])
            await self._conversations_changed((caller_id, other))
            return {"friendship": full, "autoAccepted": True}
        await self._record_change(caller_id, other, ("request",), row["id"])
        return {"friendship": full}

    async def accept_request(self, caller_id: str, friendship_id: object) -> dict[str, Any]:
        fid = uuid_text(friendship_id)
        if fid is None:
            raise _friends_error(404, "Request not found")
        async with self._pool.acquire() as conn, conn.transaction():
            row = await self._friends.by_id_for_update(conn, fid)
            if row is None:
                raise _friends_error(404, "Request not found")
            # A block row is answered like someone else's row: nothing to learn from it.
            if str(row["addressee_id"]) != caller_id or row["status"] == "blocked":
                raise _friends_error(403, "Not authorised")
            if row["status"] != "pending":
                raise _friends_error(409, "Request is not pending")
            row = await self._friends.accept(conn, fid)
            assert row is not None
            full = await self._full(conn, row, caller_id)
        requester = str(row["requester_id"])
        await self._record_change(caller_id, requester, ("accepted",), fid)
        await self._conversations_changed((caller_id, requester))
        return {"friendship": full}

    async def decline_request(self, caller_id: str, friendship_id: object) -> dict[str, Any]:
        """Delete a request (decline or cancel) or any row of the caller's, whatever its status."""
        return await self._delete_row(caller_id, friendship_id, "Request not found")

    async def remove_friendship(self, caller_id: str, friendship_id: object) -> dict[str, Any]:
        return await self._delete_row(caller_id, friendship_id, "Friendship not found")

    async def _delete_row(
        self, caller_id: str, friendship_id: object, missing: str
    ) -> dict[str, Any]:
        fid = uuid_text(friendship_id)
        if fid is None:
            raise _friends_error(404, missing)
        async with self._pool.acquire() as conn, conn.transaction():
            row = await self._friends.by_id_for_update(conn, fid)
            if row is None:
                raise _friends_error(404, missing)
            requester, addressee = str(row["requester_id"]), str(row["addressee_id"])
            if caller_id not in (requester, addressee):
                raise _friends_error(403, "Not authorised")
            if row["status"] == "blocked" and caller_id != requester:
                # SEC-14: only the blocker may lift a block.
                raise _friends_error(403, "Not authorised")
            await self._friends.delete(conn, fid)
        other = addressee if caller_id == requester else requester
        types = ("unblocked",) if row["status"] == "blocked" else _DELETED_TYPES
        await self._record_change(caller_id, other, types, fid)
        if row["status"] != "pending":
            await self._conversations_changed((caller_id, other))
        return {"success": True}

    async def block(self, caller_id: str, target_id: object) -> dict[str, Any]:
        """Replace the caller's relationship with ``target`` by a block; keeps theirs (SEC-14)."""
        target = self._target(target_id)
        if target == caller_id:
            raise _friends_error(400, "Cannot block yourself")
        async with self._pool.acquire() as conn, conn.transaction():
            await self._friends.lock_pair(conn, caller_id, target)
            card = await self._friends.card_user(conn, target)
            if card is None:
                raise _friends_error(404, "User not found")
            await self._friends.clear_for_block(conn, caller_id, target)
            try:
                row = await self._friends.insert(conn, caller_id, target, "blocked")
            except asyncpg.ForeignKeyViolationError:
                raise _friends_error(404, "User not found") from None
        await self._record_change(caller_id, target, ("blocked",), row["id"])
        await self._conversations_changed((caller_id, target))
        return {
            "friendship": {**friendship_row(row), "addressee": user_card(card, caller_id, False)}
        }

    async def unblock(self, caller_id: str, target_id: object) -> dict[str, Any]:
        """Lift the caller's own block of ``target`` (never the target's block of the caller)."""
        target = self._target(target_id)
        async with self._pool.acquire() as conn, conn.transaction():
            await self._friends.lock_pair(conn, caller_id, target)
            removed = await self._friends.delete_block(conn, caller_id, target)
        if removed is not None:
            await self._record_change(caller_id, target, ("unblocked",), removed)
        await self._conversations_changed((caller_id, target))
        return {"success": True}

    @staticmethod
    def _target(target_id: object) -> str:
        target = uuid_text(target_id)
        if target is None:
            raise _friends_error(400, "Invalid user id")
        return target

    async def _full(self, db: Executor, row: Record, viewer_id: str) -> dict[str, Any]:
        """FriendshipFull: the row plus both users' cards as the viewer may see them."""
        friends = row["status"] == "accepted"
        requester = await self._friends.card_user(db, row["requester_id"])
        addressee = await self._friends.card_user(db, row["addressee_id"])
        if requester is None or addressee is None:
            raise _friends_error(404, "User not found")
        return {
            **friendship_row(row),
            "requester": user_card(requester, viewer_id, friends),
            "addressee": user_card(addressee, viewer_id, friends),
        }

    # ---- privacy settings -----------------------------------------------

    async def update_privacy(self, caller_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Store the valid privacy keys of ``body`` (others ignored). DB only: live presence
        follows at the next connect (only the socket ``settings:update`` changes it live)."""
        levels = [
            value if isinstance(value, str) and value in PRIVACY_LEVELS else None
            for value in (body.get(key) for key in PRIVACY_KEYS)
        ]
        if all(level is None for level in levels):
            raise ServiceError(400, "No valid settings provided")
        if await self._friends.update_privacy(self._pool, caller_id, levels) is None:
            raise ServiceError(404, "User not found")
        return {"ok": True}
