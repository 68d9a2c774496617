"""Statements of ``sql/queries/messaging.sql``: the realtime send and receipt path."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from asyncpg import Record

from chatr_server.db.queries import Queries
from chatr_server.repos.types import Executor

# Positions in a ``chatr_send_dm`` argument tuple (migration 0006 gives the order).
_REPLY_TO = 11
DM_TEMP_ID = 12
_MESSAGE_ID = 13
# The temp id's position in a ``chatr_send_group`` argument tuple.
GROUP_TEMP_ID = 11


def all_have_temp_ids(rows: list[tuple[Any, ...]], position: int = DM_TEMP_ID) -> bool:
    """Whether storing these rows twice stores nothing twice (``position``: where the
    temp id sits in them; ``chatr_send_dm`` rows by default).

    Every batch statement inserts ``ON CONFLICT (sender_id, temp_id) DO NOTHING``
    and answers an already stored temp id as a ``duplicate``.
    """
    return all(r[position] is not None for r in rows)


# JSON keys of the batch statements' rows, in argument-tuple order (the
# ``jsonb_to_record`` column lists of send_dm_batch and send_group_batch).
_DM_KEYS = (
    *("sender", "recipient", "body", "kind", "f_url", "f_name", "f_size", "f_type"),
    *("waveform", "duration", "preview", "reply_to", "temp_id", "message_id", "online"),
)
_GROUP_KEYS = (
    *("sender", "grp", "body", "kind", "f_url", "f_name", "f_size", "f_type"),
    *("waveform", "duration", "preview", "temp_id", "message_id"),
)


def batch_json(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """``chatr_send_dm`` argument tuples as the JSON objects the batch statements read.

    One jsonb parameter for a whole batch: a single C-level encode (orjson, which
    writes UUIDs as text), where one array parameter per column costs asyncpg a type
    check per element.
    """
    return [dict(zip(_DM_KEYS, r, strict=True)) for r in rows]


def group_batch_json(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """``chatr_send_group`` argument tuples as the JSON objects ``send_group_batch`` reads."""
    return [dict(zip(_GROUP_KEYS, r, strict=True)) for r in rows]


class MessagingRepo:
    def __init__(self, queries: Queries) -> None:
        self._q = queries.messaging

    async def send_dm(self, db: Executor, args: tuple[Any, ...]) -> Record:
        """Run ``chatr_send_dm`` (see migration 0006 for the argument order)."""
        row = await db.fetchrow(self._q.send_dm, *args)
        assert row is not None
        return row

    async def send_dm_batch(self, db: Executor, rows: list[tuple[Any, ...]]) -> list[Record]:
        """Store a group-committed batch of ``chatr_send_dm`` argument tuples; results in order.

        One set-based function call (``chatr_send_dm_batch``, migration 0011) settles
        the plain sends: accepted conversations, and first messages, requests and their
        replies, blocks, unknown recipients. It sees the whole batch, so that a pair
        holding a row it leaves keeps its order. What it leaves (replies, upload
        announcements, repeated temp ids, a conversation another node created
        meanwhile) goes through ``chatr_send_dm`` row by row, in a second statement
        only when there is any.
        """
        results: list[Any] = [None] * len(rows)  # every slot is filled below
        if any(r[_REPLY_TO] is None and r[_MESSAGE_ID] is None for r in rows):
            for row in await db.fetch(self._q.send_dm_batch_set, batch_json(rows)):
                results[row["n"] - 1] = row
        rest = [i for i, row in enumerate(results) if row is None]
        if rest:
            batch = batch_json([rows[i] for i in rest])
            for i, row in zip(rest, await db.fetch(self._q.send_dm_batch, batch), strict=True):
                results[i] = row
        return results

    async def send_group(self, db: Executor, args: tuple[Any, ...]) -> Record:
        """Run ``chatr_send_group`` (see migration 0006 for the argument order)."""
        row = await db.fetchrow(self._q.send_group, *args)
        assert row is not None
        return row

    async def send_group_batch(self, db: Executor, rows: list[tuple[Any, ...]]) -> list[Record]:
        """Store a group-committed batch of ``chatr_send_group`` argument tuples; results
        in order. A batch of one (every batch at low load) takes the plain statement,
        which costs PostgreSQL ~10 % less than the JSON form (bench/group_batch_sql.py)."""
        if len(rows) == 1:
            return [await self.send_group(db, rows[0])]
        return await db.fetch(self._q.send_group_batch, group_batch_json(rows))

    async def mark_delivered(
        self, db: Executor, message_id: UUID, recipient_id: str
    ) -> Record | None:
        return await db.fetchrow(self._q.mark_delivered, message_id, recipient_id)

    async def mark_read(self, db: Executor, message_id: UUID, recipient_id: str) -> Record | None:
        return await db.fetchrow(self._q.mark_read, message_id, recipient_id)

    async def pair_relation(self, db: Executor, a: str, b: UUID | str) -> Record:
        row = await db.fetchrow(self._q.pair_relation, a, b)
        assert row is not None
        return row

    async def message_sender_for_recipient(
        self, db: Executor, message_id: UUID, recipient_id: str
    ) -> UUID | None:
        return await db.fetchval(self._q.message_sender_for_recipient, message_id, recipient_id)

    async def group_membership(self, db: Executor, group_id: UUID, user_id: str) -> str | None:
        return await db.fetchval(self._q.group_membership, group_id, user_id)

    async def socket_user(self, db: Executor, user_id: UUID | str) -> Record | None:
        return await db.fetchrow(self._q.socket_user, user_id)

    async def last_seen_many(self, db: Executor, user_ids: list[UUID]) -> list[Record]:
        return await db.fetch(self._q.last_seen_many, user_ids)

    async def unsend_group_message(
        self, db: Executor, message_id: UUID, sender_id: str
    ) -> UUID | None:
        return await db.fetchval(self._q.unsend_group_message, message_id, sender_id)
