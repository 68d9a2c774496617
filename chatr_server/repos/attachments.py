"""Statements of ``sql/queries/attachments.sql`` (who may read a message attachment)."""

from __future__ import annotations

from uuid import UUID

from chatr_server.db.queries import Queries
from chatr_server.repos.types import Executor


class AttachmentsRepo:
    def __init__(self, queries: Queries) -> None:
        self._q = queries.attachments

    async def readable_urls(self, db: Executor, user_id: UUID | str, file_name: str) -> list[str]:
        """Stored URLs named ``file_name`` of live messages the user takes part in."""
        return [r["file_url"] for r in await db.fetch(self._q.readable_urls, user_id, file_name)]
