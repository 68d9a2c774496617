"""After a run: is every acknowledged send stored? (``--verify-db DSN``).

The workers keep the id of each ``message:sent`` they receive as 16 raw bytes;
the coordinator concatenates them and asks PostgreSQL which of those ids are
not in ``messages``. An acknowledged message that is missing is a lost
message, whatever else the run shows.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from typing import Any

CHUNK = 50_000
MISSING_SQL = """
SELECT x FROM unnest($1::uuid[]) AS x
WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = x)
"""


def split_ids(raw: bytes) -> list[uuid.UUID]:
    """16-byte ids back into UUIDs."""
    if len(raw) % 16:
        raise ValueError("acked ids: length is not a multiple of 16")
    return [uuid.UUID(bytes=raw[i : i + 16]) for i in range(0, len(raw), 16)]


async def missing_ids(dsn: str, ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    """The ids among ``ids`` that have no row in ``messages``."""
    import asyncpg

    distinct = list(set(ids))
    missing: list[uuid.UUID] = []
    conn = await asyncpg.connect(dsn)
    try:
        for i in range(0, len(distinct), CHUNK):
            rows = await conn.fetch(MISSING_SQL, distinct[i : i + CHUNK])
            missing.extend(r[0] for r in rows)
    finally:
        await conn.close()
    return missing


def summarize(
    acked: int, missing: list[uuid.UUID], errors: Counter[str], unanswered: int
) -> dict[str, Any]:
    """The ``verify`` block of the report; ``errors`` are the workers' error texts."""
    return {
        "acked": acked,
        "acked_missing": len(missing),
        "missing_sample": [str(m) for m in missing[:10]],
        "error_events": {k: v for k, v in errors.items() if k.startswith("error: ")},
        "blocked": sum(v for k, v in errors.items() if k.startswith("message:blocked")),
        "disconnects": sum(v for k, v in errors.items() if k.startswith("disconnected: ")),
        "unanswered": unanswered,
    }
