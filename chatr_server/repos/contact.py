"""Statements of ``sql/queries/contact.sql``."""

from __future__ import annotations

from uuid import UUID

from chatr_server.db.queries import Queries
from chatr_server.repos.types import Executor


class ContactRepo:
    def __init__(self, queries: Queries) -> None:
        self._q = queries.contact

    async def insert(
        self, db: Executor, name: str, email: str, company: str | None, message: str
    ) -> UUID:
        return await db.fetchval(self._q.insert_submission, name, email, company, message)
