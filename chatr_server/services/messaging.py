"""The live message path: send, deliver, read (events.md §6.1).

This is the hot path. A send is validated, joins the current group-commit
batch (one statement stores a whole batch of concurrent sends; see
``MessagingRepo.send_dm_batch``), and is delivered with two emits. The sender is
acknowledged only after its batch committed, so a ``message:sent`` always
names a stored message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any
from uuid import UUID

import asyncpg
from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy

from chatr_server.presenters.groups import live_message
from chatr_server.presenters.messages_live import live_payloads
from chatr_server.repos.messaging import (
    DM_TEMP_ID,
    GROUP_TEMP_ID,
    MessagingRepo,
    all_have_temp_ids,
)
from chatr_server.services.attachments import Attachments
from chatr_server.services.bus import EventBus
from chatr_server.services.dependencies import CONNECTION_LOST_BEFORE_SEND
from chatr_server.services.group_commit import DEFAULT_MAX_PENDING, DEFAULT_WINDOW, GroupCommit
from chatr_server.services.message_input import (
    DirectSend,
    FileFields,
    GroupSend,
    InvalidPayload,
)
from chatr_server.services.presence import PresenceService
from chatr_server.util.timefmt import iso_ms, utcnow

BLOCKED_BY_ME = "You have blocked this user"
BLOCKED_BY_THEM = "Could not deliver — you're blocked"
SEND_FAILED = "Failed to send message"  # what a failed message:send answers


@dataclass(slots=True)
class SenderProfile:
    """What a connection knows about its user (cached at handshake)."""

    id: str
    username: str
    display_name: str | None
    profile_image: str | None
    is_guest: bool

    def as_sender(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "displayName": self.display_name,
            "profileImage": self.profile_image,
            "isGuest": self.is_guest,
        }

    def as_member(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "displayName": self.display_name,
            "profileImage": self.profile_image,
        }

    @property
    def name(self) -> str:
        return self.display_name or self.username


def connection_profile_of(row: Record) -> tuple[SenderProfile, bool]:
    """A socket's cached profile from its user row, and whether they hide their status."""
    me = SenderProfile(
        id=str(row["id"]),
        username=row["username"],
        display_name=row["display_name"],
        profile_image=row["profile_image"],
        is_guest=row["is_guest"],
    )
    return me, row["privacy_online_status"] == "nobody"


class StoredCounts:
    """Messages stored, as plain integers: the send path bumps them for free."""

    __slots__ = ("direct", "group")

    def __init__(self) -> None:
        self.direct = 0
        self.group = 0


class AcceptedPairs:
    """The pairs this process has seen with an accepted conversation: where a lone
    write goes (``MessagingService._store_dm_batch``).

    The set-based batch statement first probes for an accepted conversation; a
    first contact pays that probe and then its second, larger statement, about
    half as much again in PostgreSQL as the row-by-row function. So a lone write
    of a pair not known here takes the function, and one known here the batch
    statement, which is the cheaper of the two for an accepted pair. Only a hint:
    both statements store the same rows with the same results, so a stale or
    colliding entry costs a little time, never a different answer. A pair is an
    unordered XOR of the two ids' string hashes (cached on the strings), held in
    a set of plain integers, emptied once it holds ``limit`` of them.
    """

    __slots__ = ("_keys", "_limit")

    def __init__(self, limit: int = 50_000) -> None:
        self._keys: set[int] = set()
        self._limit = limit

    def __contains__(self, args: tuple[Any, ...]) -> bool:
        return _pair_key(args) in self._keys

    def learn(self, rows: list[tuple[Any, ...]], results: list[Any]) -> None:
        """Remember the pairs whose results name an accepted conversation."""
        keys = self._keys
        if len(keys) >= self._limit:
            keys.clear()
        for args, row in zip(rows, results, strict=True):
            if row["conversation_status"] == "accepted":
                keys.add(_pair_key(args))


def _pair_key(args: tuple[Any, ...]) -> int:
    """The unordered pair of a ``chatr_send_dm`` argument tuple (sender, recipient)."""
    return hash(args[0]) ^ hash(args[1])


class SendRefused(Exception):
    """A send that must be answered with a specific event (not ``error``)."""

    def __init__(self, event: str, payload: Any) -> None:
        super().__init__(event)
        self.event = event
        self.payload = payload


def _retry_safe(temp_id_at: int) -> Callable[[list[tuple[Any, ...]], BaseException], bool]:
    """Whether a batch (its rows hold their temp id at ``temp_id_at``) that failed on a
    lost connection may run again.

    Rows with temp ids are idempotent (``all_have_temp_ids``). Without them only
    an error raised before anything was sent allows it (the connection was
    already closed or handed back to the pool).
    """

    def safe(rows: list[tuple[Any, ...]], exc: BaseException) -> bool:
        return type(exc) in CONNECTION_LOST_BEFORE_SEND or all_have_temp_ids(rows, temp_id_at)

    return safe


#: ``done(message:sent payload, None)`` or ``done(None, error)`` (``send_direct_now``).
SendDone = Callable[[dict[str, Any] | None, Exception | None], None]


def _dm_args(sender: SenderProfile, req: DirectSend, online: bool) -> tuple[Any, ...]:
    """A ``chatr_send_dm`` argument tuple (migration 0006 gives the order)."""
    return (
        sender.id,
        req.recipient_id,
        req.content,
        req.type,
        *req.files.as_args(),
        req.link_preview,
        req.reply_to_id,
        req.temp_id,
        req.message_id,
        online,
    )


class MessagingService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        repo: MessagingRepo,
        presence: PresenceService,
        bus: EventBus,
        links: Attachments,
        *,
        write_window: float = DEFAULT_WINDOW,
        max_pending_writes: int = DEFAULT_MAX_PENDING,
        stored: StoredCounts | None = None,
        on_batch: Callable[[int], object] | None = None,
    ) -> None:
        self._pool = pool
        self._repo = repo
        self._presence = presence
        self._bus = bus
        self._links = links
        self._dm_writes: GroupCommit[Any] = GroupCommit(
            self._store_dm_batch,
            lambda args: repo.send_dm(pool, args),
            window=write_window,
            max_pending=max_pending_writes,
            retry_safe=_retry_safe(DM_TEMP_ID),
            on_batch=on_batch,
        )
        # Group messages: batches of their own (on pooled connections, as they may
        # run alongside a DM batch); each row runs chatr_send_group as before.
        self._group_writes: GroupCommit[Any] = GroupCommit(
            lambda rows: repo.send_group_batch(pool, rows),
            lambda args: repo.send_group(pool, args),
            window=write_window,
            max_pending=max_pending_writes,
            retry_safe=_retry_safe(GROUP_TEMP_ID),
        )
        # Counted for the metrics (chatr_server/metrics.py), as plain integers.
        self._stored = stored if stored is not None else StoredCounts()
        # Batches run one at a time, so they keep one pooled connection between
        # them instead of an acquire/release (and its bookkeeping) per batch.
        self._writer: PoolConnectionProxy | None = None
        self._accepted = AcceptedPairs()

    async def wait_idle(self) -> None:
        """Write what is queued now (no collection windows) and return once it is
        stored and answered."""
        await self._dm_writes.wait_idle()
        await self._group_writes.wait_idle()

    async def close(self) -> None:
        """Let the batch in flight finish, then return the writer connection."""
        await self.wait_idle()
        await self._drop_writer()

    async def _drop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            await self._pool.release(writer)

    async def _store_dm_batch(self, rows: list[tuple[Any, ...]]) -> list[Any]:
        """One group-committed batch, on the connection the batches keep.

        A lone write of a pair not known to be accepted (at low and moderate rates
        every batch is one write) takes the row-by-row function: see
        :class:`AcceptedPairs`.

        A PostgreSQL restart closes that connection (asyncpg hands it back to the
        pool on its own, and the proxy then refuses every call): the failed batch
        drops it here, and the group commit runs the batch again on a fresh one.
        """
        db = self._writer
        if db is None:
            db = self._writer = await self._pool.acquire()
        try:
            if len(rows) == 1 and rows[0] not in self._accepted:
                results = [await self._repo.send_dm(db, rows[0])]
            else:
                results = await self._repo.send_dm_batch(db, rows)
        except BaseException:
            # The connection may be broken: hand it back (the pool replaces it).
            await self._drop_writer()
            raise
        self._accepted.learn(rows, results)
        return results

    async def _own_files(self, sender_id: str, files: FileFields) -> FileFields:
        """The files of a new message, its URL in stored form.

        Only links into our own storage (a "file" message cannot point at an
        arbitrary site), and only attachments the sender may read (SEC-17).
        """
        stored = await self._links.stored_url(sender_id, files.url) if files.url else None
        if stored is None:
            raise InvalidPayload("Invalid file URL")
        return replace(files, url=stored)

    async def send_direct(self, sender: SenderProfile, req: DirectSend) -> dict[str, Any]:
        """Store and deliver a DM; returns the ``message:sent`` payload for the sender.

        Raises :class:`InvalidPayload` (→ ``error``) or :class:`SendRefused`
        (→ ``message:blocked``).
        """
        self._refuse_self(sender, req)
        if req.message_id is None and req.files.url is not None:
            req.files = await self._own_files(sender.id, req.files)
        online = await self._presence.is_online(req.recipient_id)
        row = await self._dm_writes.submit(_dm_args(sender, req, online))
        return self._deliver(sender, req, row)

    def send_direct_now(self, sender: SenderProfile, req: DirectSend, done: SendDone) -> bool:
        """The hot path of :meth:`send_direct`, without a task: queue the write now and
        call ``done(sent payload, None)`` or ``done(None, error)`` once it is stored and
        delivered. False (nothing done) when the send needs an await first: an upload
        to check, or a recipient not connected to this process (presence asks the store).

        Raises what :meth:`send_direct` raises before its write (bad input, overload).
        """
        if req.message_id is None and req.files.url is not None:
            return False
        if not self._presence.online_here(req.recipient_id):
            return False
        self._refuse_self(sender, req)
        self._dm_writes.submit_then(
            _dm_args(sender, req, True), partial(self._deliver_then, sender, req, done)
        )
        return True

    def _deliver_then(
        self,
        sender: SenderProfile,
        req: DirectSend,
        done: SendDone,
        row: Record | None,
        exc: Exception | None,
    ) -> None:
        if exc is None:
            try:
                sent = self._deliver(sender, req, row)
            except Exception as refused:  # SendRefused, InvalidPayload
                exc = refused
            else:
                done(sent, None)
                return
        done(None, exc)

    @staticmethod
    def _refuse_self(sender: SenderProfile, req: DirectSend) -> None:
        if req.recipient_id == sender.id:
            # No conversation with oneself (conversations_sorted): chatr_send_dm
            # would raise, failing the statement of the whole batch, whose other
            # rows the set-based call may have stored already. Same answer as then.
            raise InvalidPayload(SEND_FAILED)

    def _deliver(self, sender: SenderProfile, req: DirectSend, row: Any) -> dict[str, Any]:
        """After the write: refusals raised, ``message:received`` (and an auto-accept)
        emitted; returns the ``message:sent`` payload."""
        outcome = row["outcome"]
        if outcome == "blocked":
            payload: dict[str, Any] = {"recipientId": req.recipient_id}
            if req.temp_id is not None:
                payload["tempId"] = req.temp_id
            mine = str(row["blocked_by"]) == sender.id
            payload["reason"] = BLOCKED_BY_ME if mine else BLOCKED_BY_THEM
            raise SendRefused("message:blocked", payload)
        if outcome == "no_recipient":
            raise InvalidPayload("Recipient not found")
        if outcome == "not_found":
            raise InvalidPayload("Message not found")
        if outcome == "created":
            self._stored.direct += 1
        if row["accepted_now"]:
            self._bus.to_user(
                str(row["initiator_id"]),
                "conversation:accepted",
                {"conversationId": str(row["conversation_id"]), "acceptedBy": sender.id},
            )
        sent, received = live_payloads(
            row, req.temp_id, sender.as_sender() if outcome != "duplicate" else None
        )
        if row["file_url"] is not None:
            self._links.sign_all((sent, received))
        if received is not None:
            waveform = req.files.waveform
            if waveform is not None and "waveform" not in received:
                received["waveform"] = waveform
            self._bus.to_user(req.recipient_id, "message:received", received)
        return sent

    async def mark_delivered(self, user_id: str, message_id: Any) -> None:
        row = await self._repo.mark_delivered(self._pool, message_id, user_id)
        if row is not None and not row["pending"]:
            self._bus.to_user(
                str(row["sender_id"]),
                "message:status",
                {
                    "messageId": str(message_id),
                    "status": "delivered",
                    "timestamp": iso_ms(utcnow()),
                },
            )

    async def mark_read(self, user_id: str, message_id: Any) -> None:
        row = await self._repo.mark_read(self._pool, message_id, user_id)
        if row is not None and not row["pending"]:
            self._bus.to_user(
                str(row["sender_id"]),
                "message:status",
                {"messageId": str(message_id), "status": "read", "timestamp": iso_ms(utcnow())},
            )

    async def pair_state(self, user_id: str, other_id: Any) -> tuple[bool, str | None, bool]:
        """(pending, initiator id, blocked) for the pair; no conversation → (False, None, …)."""
        row = await self._repo.pair_relation(self._pool, user_id, other_id)
        pending = row["conversation_status"] == "pending"
        initiator = str(row["initiator_id"]) if row["initiator_id"] is not None else None
        return pending, initiator, row["blocked"]

    async def sender_of_received(self, user_id: str, message_id: Any) -> str | None:
        """The sender of a message the user received (None when it is not theirs)."""
        sender = await self._repo.message_sender_for_recipient(self._pool, message_id, user_id)
        return None if sender is None else str(sender)

    async def group_status(self, user_id: str, group_id: Any) -> str | None:
        return await self._repo.group_membership(self._pool, group_id, user_id)

    # --- connection state (read by the socket layer) ----------------------------------------

    async def connection_profile(self, user_id: str) -> tuple[SenderProfile, bool] | None:
        """What a socket caches about its user, and whether they hide their status."""
        row = await self._repo.socket_user(self._pool, user_id)
        return None if row is None else connection_profile_of(row)

    async def last_seen_many(self, user_ids: list[UUID]) -> list[Record]:
        """Stored last-seen rows of users with no live presence record."""
        return await self._repo.last_seen_many(self._pool, user_ids)

    async def unsend_group_message(self, user_id: str, message_id: Any) -> UUID | None:
        """Unsend the user's own group message; its group id, or None (not theirs, gone)."""
        return await self._repo.unsend_group_message(self._pool, message_id, user_id)

    async def store_group(self, sender: SenderProfile, req: GroupSend) -> Any:
        """Store (or find, by temp id) a group message; the row carries the member ids."""
        if req.message_id is None and req.files.url is not None:
            req.files = await self._own_files(sender.id, req.files)
        files = req.files
        row = await self._group_writes.submit(
            (
                sender.id,
                req.group_id,
                req.content,
                req.type,
                *files.as_args(),
                req.link_preview,
                req.temp_id,
                req.message_id,
            ),
        )
        outcome = row["outcome"]
        if outcome == "not_member":
            raise InvalidPayload("Not a member of this group")
        if outcome == "pending_member":
            raise InvalidPayload("Accept the group invite before sending messages")
        if outcome == "not_found":
            raise InvalidPayload("Message not found")
        if outcome == "created":
            self._stored.group += 1
        return row

    async def send_group(self, sender: SenderProfile, req: GroupSend) -> None:
        """Store and fan out a group message (``group:message``) to accepted members."""
        row = await self.store_group(sender, req)
        files = req.files
        payload = live_message(row, sender.as_member(), req.temp_id)
        if row["file_url"] is not None:
            self._links.sign(payload)
        if payload["waveform"] is None and files.waveform is not None:
            payload["waveform"] = files.waveform
        if payload["duration"] is None and files.duration is not None:
            payload["duration"] = files.duration
        self._bus.to_users([str(m) for m in row["member_ids"] or ()], "group:message", payload)
