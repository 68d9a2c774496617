"""Readiness: may this node take traffic right now? (``GET /api/health/ready``).

Liveness (``/api/health``) says the process runs; readiness says a request sent
here would be served: PostgreSQL answers a cheap query, its schema carries every
migration this code ships, Redis answers (when configured) and the node is not
draining. Every probe is bounded, so a hung dependency reads as "down" within
:data:`CHECK_TIMEOUT` instead of hanging the load balancer's health check.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from chatr_server.db import migrate
from chatr_server.store import KeyValueStore

# Seconds each dependency gets to answer; the checks run concurrently.
CHECK_TIMEOUT = 2.0

OK = "ok"
DOWN = "down"


async def _database(pool: asyncpg.Pool) -> tuple[str, str]:
    """(database, migrations) states from one pooled connection."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            async with pool.acquire() as conn:
                missing = await migrate.pending(conn)
    except Exception:  # whatever the failure, the database did not answer in time
        return DOWN, "unknown"
    return OK, (OK if not missing else "pending")


async def _redis(store: KeyValueStore) -> str:
    if store.kind != "redis":
        return "not configured"
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            return OK if await store.ping() else DOWN
    except TimeoutError:
        return DOWN


async def readiness(
    pool: asyncpg.Pool, store: KeyValueStore, draining: bool
) -> tuple[bool, dict[str, Any]]:
    """``(ready, body)``; the body names the state of every check."""
    (database, migrations), redis = await asyncio.gather(_database(pool), _redis(store))
    ready = database == OK and migrations == OK and redis in (OK, "not configured") and not draining
    return ready, {
        "status": "ready" if ready else "not ready",
        "checks": {
            "database": database,
            "migrations": migrations,
            "redis": redis,
            "draining": draining,
        },
    }
