"""Who is online, counted per connection across every server process.

A user is online while at least one of their sockets is connected anywhere.
Each process (node) keeps its own per-user connection count in the shared
store under ``pconn:<user>`` (field = node id) and announces itself with a
``node:<id>`` key that it refreshes every heartbeat. A node that dies stops
refreshing, so its counts stop counting within ``NODE_TTL_S`` and expire with
their keys: a crashed process never leaves users online for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

from chatr_server.store import KeyValueStore
from chatr_server.util.timefmt import iso_ms, utcnow

log = logging.getLogger(__name__)

# A node that has not refreshed its key for this long is considered dead.
NODE_TTL_S = 60.0
# Heartbeat period: three chances to refresh before the node key expires.
HEARTBEAT_S = 20.0
# Presence keys outlive a missed heartbeat or two, then vanish with a dead node.
RECORD_TTL_S = 120.0


class PresenceService:
    def __init__(self, store: KeyValueStore, node_id: str | None = None) -> None:
        self._store = store
        self.node_id = node_id or secrets.token_hex(6)
        self._local: dict[str, int] = {}
        # Nodes seen alive / dead at the last heartbeat or since (see _is_live).
        self._live_nodes: set[str] = {self.node_id}
        self._dead_nodes: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    # ---- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        await self._beat()
        self._task = asyncio.create_task(self._heartbeat(), name="presence-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self._store.delete(f"node:{self.node_id}")
            await self._store.srem("nodes", self.node_id)
            for user_id in list(self._local):
                await self._store.hdel(f"pconn:{user_id}", self.node_id)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self._beat()
            except Exception:
                log.warning("presence heartbeat failed", exc_info=True)

    async def _beat(self) -> None:
        await self._store.set(f"node:{self.node_id}", "1", ttl_s=NODE_TTL_S)
        await self._store.sadd("nodes", self.node_id)
        live = {self.node_id}
        for node in await self._store.smembers("nodes"):
            if node == self.node_id:
                continue
            if await self._store.get(f"node:{node}") is not None:
                live.add(node)
            else:
                await self._store.srem("nodes", node)
        self._live_nodes = live
        self._dead_nodes = set()
        for user_id, count in list(self._local.items()):
            await self._store.hset(
                f"pconn:{user_id}", {self.node_id: str(count)}, ttl_s=RECORD_TTL_S
            )
            await self._store.hincrby(f"presence:{user_id}", "refresh", 0, ttl_s=RECORD_TTL_S)

    # ---- connections -----------------------------------------------------

    async def _total(self, user_id: str) -> int:
        counts = await self._store.hgetall(f"pconn:{user_id}")
        total = 0
        for node, value in counts.items():
            if value.isdigit() and await self._is_live(node):
                total += int(value)
        return total

    async def _is_live(self, node: str) -> bool:
        """Whether a node's connection counts count.

        Known from the last heartbeat; a node not seen then (one that started
        since) is asked about once, so its users are online here at once rather
        than after our next heartbeat.
        """
        if node in self._live_nodes:
            return True
        if node in self._dead_nodes:
            return False
        live = await self._store.get(f"node:{node}") is not None
        (self._live_nodes if live else self._dead_nodes).add(node)
        return live

    async def connect(self, user_id: str, hidden: bool) -> None:
        """Count a new connection and mark the user online."""
        self._local[user_id] = self._local.get(user_id, 0) + 1
        await self._store.hset(
            f"pconn:{user_id}", {self.node_id: str(self._local[user_id])}, ttl_s=RECORD_TTL_S
        )
        await self._store.hset(
            f"presence:{user_id}",
            {
                "status": "online",
                "lastSeen": iso_ms(utcnow()) or "",
                "hidden": "1" if hidden else "0",
            },
            ttl_s=RECORD_TTL_S,
        )

    async def disconnect(self, user_id: str) -> bool:
        """Count a closed connection; True when it was the user's last one anywhere."""
        left = self._local.get(user_id, 0) - 1
        if left > 0:
            self._local[user_id] = left
            await self._store.hset(
                f"pconn:{user_id}", {self.node_id: str(left)}, ttl_s=RECORD_TTL_S
            )
            return False
        self._local.pop(user_id, None)
        await self._store.hdel(f"pconn:{user_id}", self.node_id)
        if await self._total(user_id) > 0:
            return False
        await self._store.delete(f"presence:{user_id}", f"pconn:{user_id}")
        return True

    async def is_online(self, user_id: str) -> bool:
        if self._local.get(user_id, 0) > 0:
            return True
        return await self._total(user_id) > 0

    # ---- records ---------------------------------------------------------

    async def record(self, user_id: str) -> dict[str, Any] | None:
        raw = await self._store.hgetall(f"presence:{user_id}")
        if not raw or "status" not in raw:
            return None
        return {
            "status": raw["status"],
            "lastSeen": raw.get("lastSeen") or None,
            "hidden": raw.get("hidden") == "1",
        }

    async def records(self, user_ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for user_id in user_ids:
            rec = await self.record(user_id)
            if rec is not None:
                found[user_id] = rec
        return found

    async def set_status(self, user_id: str, status: str) -> dict[str, Any] | None:
        """Set online/away on an existing record; None when the user has no record."""
        if await self.record(user_id) is None:
            return None
        await self._store.hset(
            f"presence:{user_id}",
            {"status": status, "lastSeen": iso_ms(utcnow()) or ""},
            ttl_s=RECORD_TTL_S,
        )
        return await self.record(user_id)

    async def set_hidden(self, user_id: str, hidden: bool) -> dict[str, Any] | None:
        if await self.record(user_id) is None:
            return None
        await self._store.hset(
            f"presence:{user_id}", {"hidden": "1" if hidden else "0"}, ttl_s=RECORD_TTL_S
        )
        return await self.record(user_id)
