"""Voice-call signalling (events.md §6.4): call state in PostgreSQL, relays checked.

SDP offers, answers and ICE candidates are relayed only between the two
parties of a call that is ringing or active (SEC-12), never to arbitrary users.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from uuid import UUID

import asyncpg

from chatr_server.repos.calls import CallsRepo
from chatr_server.services.bus import EventBus
from chatr_server.services.message_input import InvalidPayload

log = logging.getLogger(__name__)

# An unanswered call stops ringing after this long (reason no_answer / missed).
RING_TIMEOUT_S = 30.0
# SDP and ICE payloads are opaque, but bounded.
MAX_SIGNAL_BYTES = 64 * 1024


class CallService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        repo: CallsRepo,
        bus: EventBus,
        ring_timeout: float = RING_TIMEOUT_S,
    ) -> None:
        self._pool = pool
        self._repo = repo
        self._bus = bus
        self.ring_timeout = ring_timeout
        self._timers: set[asyncio.Task[None]] = set()

    async def initiate(self, caller_id: str, receiver_id: UUID | None) -> dict[str, Any]:
        if receiver_id is None:
            return {"error": "receiverId is required"}
        receiver = str(receiver_id)
        if receiver == caller_id or await self._repo.blocked_between(
            self._pool, caller_id, receiver_id
        ):
            return {"error": "Cannot call this user"}
        if not await self._bus.is_online(receiver):
            return {"error": "User is offline"}
        if await self._repo.in_call(self._pool, receiver_id):
            return {"error": "User is on another call"}
        if await self._repo.in_call(self._pool, caller_id):
            return {"error": "You are already in a call"}
        card = await self._repo.caller_card(self._pool, caller_id)
        call_id = await self._repo.create(self._pool, caller_id, receiver_id)
        assert card is not None
        self._bus.to_user(
            receiver,
            "call:incoming",
            {
                "callId": str(call_id),
                "caller": {
                    "id": caller_id,
                    "username": card["username"],
                    "displayName": card["display_name"],
                    "profileImage": card["profile_image"],
                },
            },
        )
        timer = asyncio.create_task(self._ring_out(call_id))
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)
        return {"callId": str(call_id)}

    async def _ring_out(self, call_id: UUID) -> None:
        await asyncio.sleep(self.ring_timeout)
        try:
            row = await self._repo.miss_if_ringing(self._pool, call_id)
        except Exception:
            log.exception("could not expire a ringing call")
            return
        if row is not None:
            cid = str(call_id)
            self._bus.to_user(
                str(row["caller_id"]), "call:ended", {"callId": cid, "reason": "no_answer"}
            )
            self._bus.to_user(
                str(row["receiver_id"]), "call:ended", {"callId": cid, "reason": "missed"}
            )

    async def accept(self, user_id: str, call_id: UUID) -> None:
        caller = await self._repo.accept(self._pool, call_id, user_id)
        if caller is not None:
            self._bus.to_user(str(caller), "call:accepted", {"callId": str(call_id)})

    async def reject(self, user_id: str, call_id: UUID) -> None:
        caller = await self._repo.reject(self._pool, call_id, user_id)
        if caller is not None:
            self._bus.to_user(
                str(caller), "call:ended", {"callId": str(call_id), "reason": "rejected"}
            )

    async def hang_up(self, user_id: str, call_id: UUID) -> None:
        row = await self._repo.hang_up(self._pool, call_id, user_id)
        if row is not None:
            payload = {"callId": str(call_id), "reason": "hangup", "duration": row["duration"]}
            self._bus.to_users(
                [str(row["caller_id"]), str(row["receiver_id"])], "call:ended", payload
            )

    async def relay(
        self, user_id: str, call_id: UUID, target: UUID, event: str, key: str, value: Any, size: int
    ) -> None:
        """Forward an offer/answer/ICE candidate to the other party of a live call."""
        if size > MAX_SIGNAL_BYTES:
            raise InvalidPayload()
        row = await self._repo.live_parties(self._pool, call_id, user_id)
        if row is None:
            return
        parties = {str(row["caller_id"]), str(row["receiver_id"])}
        if str(target) not in parties or str(target) == user_id:
            return
        self._bus.to_user(
            str(target), event, {"callId": str(call_id), "fromUserId": user_id, key: value}
        )

    def ended_by_disconnect(self, user_id: str, calls: list[dict[str, Any]]) -> None:
        """Tell the other party of each call that ended because ``user_id``'s last
        connection closed (the disconnect's batch statement ended them: ``socket_logouts``
        in users.sql; ids arrive as text)."""
        for call in calls:
            caller = call["caller_id"]
            other = call["receiver_id"] if caller == user_id else caller
            self._bus.to_user(
                other,
                "call:ended",
                {"callId": call["id"], "reason": "disconnect", "duration": call["duration"]},
            )

    async def close(self) -> None:
        for timer in list(self._timers):
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
