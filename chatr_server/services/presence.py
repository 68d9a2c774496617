"""Who is online, counted per connection across every server process.

A user is online while at least one of their sockets is connected anywhere.
Each process (node) keeps its own per-user connection count in the shared
store under ``pconn:<user>`` (field = node id) and announces itself with a
``node:<id>`` key that it refreshes every heartbeat. A node that dies stops
refreshing, so its counts stop counting within ``NODE_TTL_S`` and expire with
their keys: a crashed process never leaves users online for ever.

Redis down: presence degrades to what this node knows (its own connections and
their records) instead of failing the caller (a DM to a user who is not on this
node is then stored as not yet delivered). The store reports the outage to the
dependency monitor, which calls :meth:`PresenceService.resync` once Redis is
back: this node's counts, records and heartbeat are written again (a restarted
Redis has lost them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Sequence
from typing import Any

from chatr_server.services.dependencies import is_dependency_outage
from chatr_server.store import KeyValueStore, StorePipeline
from chatr_server.util.timefmt import iso_ms, utcnow

log = logging.getLogger(__name__)

# A node that has not refreshed its key for this long is considered dead.
NODE_TTL_S = 60.0
# Heartbeat period: three chances to refresh before the node key expires.
HEARTBEAT_S = 20.0
# Presence keys outlive a missed heartbeat or two, then vanish with a dead node.
RECORD_TTL_S = 120.0
# Users whose keys one heartbeat pipeline refreshes.
BEAT_BATCH = 200


class PresenceService:
    def __init__(self, store: KeyValueStore, node_id: str | None = None) -> None:
        self._store = store
        # No Redis: this process is the only node, so the records of its own
        # connections (below) are all the records there are, and reads need not
        # go through the store's emulation of Redis (a connect reads 50 of them).
        self._alone = store.kind == "memory"
        self.node_id = node_id or secrets.token_hex(6)
        self._local: dict[str, int] = {}
        # (status, lastSeen, hidden) of each user connected here: the fallback while
        # Redis is down (a tuple: this lives as long as the connection does).
        self._records: dict[str, tuple[str, str, str]] = {}
        # Nodes seen alive / dead at the last heartbeat or since (see _is_live).
        self._live_nodes: set[str] = {self.node_id}
        self._dead_nodes: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    # ---- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._beat()
        except Exception as exc:
            _local_only(exc)  # Redis down at start-up: resync() registers us later
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
            except Exception as exc:
                if is_dependency_outage(exc) is None:  # an outage is logged by the monitor
                    log.warning("presence heartbeat failed", exc_info=True)

    async def resync(self) -> None:
        """Register this node's connections and records again (the store came back)."""
        await self._beat()
        for user_id, record in list(self._records.items()):
            await self._store.hset(f"presence:{user_id}", _fields(record), ttl_s=RECORD_TTL_S)

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
        # This node's counts and its users' records live on: one round trip per
        # BEAT_BATCH users (2,000 users were 4,000 round trips every heartbeat).
        users = list(self._local.items())
        for start in range(0, len(users), BEAT_BATCH):
            pipe = self._store.pipeline()
            for user_id, count in users[start : start + BEAT_BATCH]:
                pipe.hset(f"pconn:{user_id}", {self.node_id: str(count)}, ttl_s=RECORD_TTL_S)
                pipe.expire(f"presence:{user_id}", RECORD_TTL_S)
            await pipe.execute()

    # ---- connections -----------------------------------------------------

    async def _total(self, user_id: str) -> int:
        return await self._live_total(await self._store.hgetall(f"pconn:{user_id}"))

    async def _live_total(self, counts: dict[str, str]) -> int:
        """The connections of a ``pconn:<user>`` hash that count (their node is alive)."""
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

    async def connect(
        self, user_id: str, hidden: bool, peers: Sequence[str] = ()
    ) -> dict[str, dict[str, Any]]:
        """Count a new connection, mark the user online, and read the records of ``peers``.

        One store round trip: the writes and the reads share a pipeline. The writes
        are queued first, so of two contacts connecting at once at least one reads
        the other's record (on a single store; on a Redis Cluster the user:status
        the caller broadcasts afterwards covers the other one). Returns
        :meth:`records` of ``peers``.
        """
        count = self._local[user_id] = self._local.get(user_id, 0) + 1
        record = self._records[user_id] = ("online", iso_ms(utcnow()) or "", "1" if hidden else "0")
        pipe = self._store.pipeline()
        pipe.hset(f"pconn:{user_id}", {self.node_id: str(count)}, ttl_s=RECORD_TTL_S)
        pipe.hset(f"presence:{user_id}", _fields(record), ttl_s=RECORD_TTL_S)
        if self._alone:
            await pipe.execute()
            return self._records_here(peers)
        return await self._with_records(pipe, peers, queued=2)

    async def disconnect(self, user_id: str) -> tuple[bool, dict[str, Any] | None]:
        """Count a closed connection: whether it was the user's last one anywhere, and
        the user's :meth:`record` as it stood (the shared one knows about a
        ``settings:update`` made on any process).

        One store round trip, plus one to delete the user's keys after their last
        connection. Without the store, "anywhere" is this node: its last connection
        counts as the last, and the record is this node's.
        """
        left = self._local.get(user_id, 0) - 1
        local = self._records.get(user_id)
        pipe = self._store.pipeline()
        pipe.hgetall(f"presence:{user_id}")
        if left > 0:
            self._local[user_id] = left
            pipe.hset(f"pconn:{user_id}", {self.node_id: str(left)}, ttl_s=RECORD_TTL_S)
        else:
            self._local.pop(user_id, None)
            self._records.pop(user_id, None)
            pipe.hdel(f"pconn:{user_id}", self.node_id)
            pipe.hgetall(f"pconn:{user_id}")
        try:
            results = await pipe.execute()
            record = _parsed(results[0])
            if left > 0 or await self._live_total(results[2]) > 0:
                return False, record
            await self._store.delete(f"presence:{user_id}", f"pconn:{user_id}")
        except Exception as exc:
            _local_only(exc)
            return left <= 0, _parsed(_fields(local)) if local is not None else None
        return True, record

    def online_here(self, user_id: str) -> bool:
        """Whether the user has a connection to this process (no store round trip);
        False says nothing about the other nodes (:meth:`is_online` asks them)."""
        return self._local.get(user_id, 0) > 0

    async def is_online(self, user_id: str) -> bool:
        if self._local.get(user_id, 0) > 0:
            return True
        try:
            return await self._total(user_id) > 0
        except Exception as exc:
            _local_only(exc)
            return False  # not here, and the other nodes cannot be asked

    # ---- records ---------------------------------------------------------

    async def record(self, user_id: str) -> dict[str, Any] | None:
        try:
            raw = await self._store.hgetall(f"presence:{user_id}")
        except Exception as exc:
            _local_only(exc)
            local = self._records.get(user_id)
            raw = _fields(local) if local is not None else {}
        return _parsed(raw)

    async def records(self, user_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The records of those of ``user_ids`` that have one, in one store round trip."""
        if not user_ids:
            return {}
        if self._alone:
            return self._records_here(user_ids)
        return await self._with_records(self._store.pipeline(), user_ids)

    async def _with_records(
        self, pipe: StorePipeline, user_ids: Sequence[str], queued: int = 0
    ) -> dict[str, dict[str, Any]]:
        """Run ``pipe`` (``queued`` commands in it so far) with the reads of the records of
        ``user_ids``; the records found (this node's own while the store is down)."""
        for user_id in user_ids:
            pipe.hgetall(f"presence:{user_id}")
        try:
            results = await pipe.execute()
        except Exception as exc:
            _local_only(exc)
            return self._records_here(user_ids)
        return _found(user_ids, results[queued:])

    def _records_here(self, user_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """:meth:`records` from this node's own connections: all of them when this
        process is the only node, what is left to know while Redis is down."""
        local = self._records
        found: dict[str, dict[str, Any]] = {}
        for user_id in user_ids:
            record = local.get(user_id)
            if record is not None:
                status, last_seen, hidden = record
                found[user_id] = {
                    "status": status,
                    "lastSeen": last_seen or None,
                    "hidden": hidden == "1",
                }
        return found

    async def set_status(self, user_id: str, status: str) -> dict[str, Any] | None:
        """Set online/away on an existing record; None when the user has no record."""
        return await self._update(user_id, {"status": status, "lastSeen": iso_ms(utcnow()) or ""})

    async def set_hidden(self, user_id: str, hidden: bool) -> dict[str, Any] | None:
        return await self._update(user_id, {"hidden": "1" if hidden else "0"})

    async def _update(self, user_id: str, fields: dict[str, str]) -> dict[str, Any] | None:
        if await self.record(user_id) is None:
            return None
        local = self._records.get(user_id)
        if local is not None:
            merged = {**_fields(local), **fields}
            self._records[user_id] = (merged["status"], merged["lastSeen"], merged["hidden"])
        try:
            await self._store.hset(f"presence:{user_id}", fields, ttl_s=RECORD_TTL_S)
        except Exception as exc:
            _local_only(exc)
        return await self.record(user_id)


def _fields(record: tuple[str, str, str]) -> dict[str, str]:
    status, last_seen, hidden = record
    return {"status": status, "lastSeen": last_seen, "hidden": hidden}


def _parsed(raw: dict[str, str]) -> dict[str, Any] | None:
    """A stored record as the services use it (None: no record)."""
    if not raw or "status" not in raw:
        return None
    return {
        "status": raw["status"],
        "lastSeen": raw.get("lastSeen") or None,
        "hidden": raw.get("hidden") == "1",
    }


def _found(user_ids: Sequence[str], raws: Sequence[dict[str, str]]) -> dict[str, dict[str, Any]]:
    """The parsed records of those of ``user_ids`` that have one, in their order."""
    found: dict[str, dict[str, Any]] = {}
    for user_id, raw in zip(user_ids, raws, strict=True):
        rec = _parsed(raw)
        if rec is not None:
            found[user_id] = rec
    return found


def _local_only(exc: Exception) -> None:
    """Carry on from local knowledge when the store is down (the monitor logs the outage)."""
    if is_dependency_outage(exc) is None:
        raise exc
