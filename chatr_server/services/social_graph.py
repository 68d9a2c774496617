"""Who a user's presence is shared with (behaviors.md §3).

C(u): accepted friends and conversation partners (pending either way), minus
anyone with a block either way. P(u): those reached only through a pending
conversation u initiated. Live status goes to C(u) − P(u).
"""

from __future__ import annotations

import asyncpg

from chatr_server.repos.messaging import MessagingRepo


class SocialGraph:
    def __init__(self, pool: asyncpg.Pool, repo: MessagingRepo) -> None:
        self._pool = pool
        self._repo = repo

    async def connected(self, user_id: str) -> tuple[set[str], set[str]]:
        """(C, P) for ``user_id``."""
        rows = await self._repo.connected_users(self._pool, user_id)
        everyone = {str(r["uid"]) for r in rows}
        pending_out = {str(r["uid"]) for r in rows if r["pending_out"]}
        return everyone, pending_out

    async def visible_peers(self, user_id: str) -> list[str]:
        """C − P: the users who see this user's live status."""
        everyone, pending_out = await self.connected(user_id)
        return sorted(everyone - pending_out)
