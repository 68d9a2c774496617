#!/usr/bin/env python3
"""PostgreSQL cost per group message: one statement per message vs group-committed batches.

    .venv/bin/python bench/group_batch_sql.py [--dsn postgresql://postgres@127.0.0.1:5432/postgres]
                                              [--groups 200] [--members 20] [--messages 4000]

Creates a throw-away database (the real migrations), seeds ``--groups`` groups of
``--members`` accepted members and some history, then stores ``--messages`` plain group messages
(a random member of a random group, fresh temp id) each way, alternating:

* one by one: ``chatr_send_group`` in its own statement and commit, as the server
  stored every group message before group commit;
* batched: the ``send_group_batch`` statement with batches of each ``--batches``
  size, as the group commit forms them under load. Batches of 1 show what the JSON
  form costs a lone message; ``MessagingRepo.send_group_batch`` sends a batch of one
  (every batch at low load) as the plain statement instead.

Reported per message: the database backend's CPU time (``/proc/<pid>/schedstat``:
PostgreSQL must run on this machine) and the statements' wall time seen by the
client. ``synchronous_commit = off``, as in the load tests. The database is
dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dm_batch_sql import DEFAULT_DSN, backend_cpu, per_message, throwaway_database
from chatr_server.db.pool import _init_connection
from chatr_server.db.queries import Queries
from chatr_server.repos.messaging import group_batch_json


async def seed(conn: asyncpg.Connection, groups: int, members: int) -> list[tuple[str, list[str]]]:
    """``groups`` groups of ``members`` accepted members: (group id, member ids) each."""
    await conn.execute(
        "INSERT INTO users (username, password_hash) SELECT '@gbench_' || g, 'x'"
        " FROM generate_series(1, $1) g",
        groups * members,
    )
    ids = [str(r["id"]) for r in await conn.fetch("SELECT id FROM users ORDER BY username")]
    out = []
    for g in range(groups):
        crew = ids[g * members : (g + 1) * members]
        gid = await conn.fetchval(
            "INSERT INTO groups (name, owner_id) VALUES ($1, $2) RETURNING id", f"g{g}", crew[0]
        )
        await conn.execute(
            "INSERT INTO group_members (group_id, user_id, role, status)"
            " SELECT $1, u, 'member', 'accepted' FROM unnest($2::uuid[]) AS u",
            gid,
            crew,
        )
        out.append((str(gid), crew))
    # Some history (50 messages per group), so the planner's statistics describe a table
    # in use: analysed empty, lookups by temp id would plan as scans of a growing table.
    await conn.execute(
        "INSERT INTO group_messages (group_id, sender_id, content, temp_id)"
        " SELECT m.group_id, m.user_id, 'earlier', md5(random()::text)"
        " FROM group_members m, generate_series(1, 50 / $1 + 1)",
        members,
    )
    await conn.execute("ANALYZE")
    return out


def message(groups: list[tuple[str, list[str]]]) -> tuple[Any, ...]:
    """A ``chatr_send_group`` argument tuple: plain text from a member, fresh temp id."""
    gid, crew = random.choice(groups)
    return (
        random.choice(crew),
        gid,
        "hello team",
        "text",
        *([None] * 7),
        secrets.token_hex(8),
        None,
    )


async def run(args: argparse.Namespace) -> None:
    async with throwaway_database(args.dsn, "chatr_groupbench") as dsn:
        setup = await asyncpg.connect(dsn)
        groups = await seed(setup, args.groups, args.members)
        await setup.close()
        queries = Queries().messaging
        conn = await asyncpg.connect(dsn)
        await _init_connection(conn)
        await conn.execute("SET synchronous_commit = off")
        pid = await conn.fetchval("SELECT pg_backend_pid()")

        async def one_by_one(rows: list[tuple[Any, ...]]) -> None:
            for row in rows:
                await conn.fetchrow(queries.send_group, *row)

        def batched(size: int) -> Any:
            async def store(rows: list[tuple[Any, ...]]) -> None:
                for i in range(0, len(rows), size):
                    await conn.fetch(queries.send_group_batch, group_batch_json(rows[i : i + size]))

            return store

        variants = [("one by one", one_by_one)]
        variants += [(f"batches of {size}", batched(size)) for size in args.batches]
        print(
            f"{args.messages} messages per variant, {args.groups} groups of {args.members} members"
        )
        totals = {label: [0.0, 0.0] for label, _ in variants}
        chunk = 200
        for _ in range(args.messages // chunk):
            for label, store in variants:  # alternated, so drift hits every variant alike
                rows = [message(groups) for _ in range(chunk)]
                cpu, wall = backend_cpu(pid), time.perf_counter()
                await store(rows)
                totals[label][0] += backend_cpu(pid) - cpu
                totals[label][1] += time.perf_counter() - wall
        n = args.messages // chunk * chunk
        for label, (cpu, wall) in totals.items():
            print(per_message(f"{label:16}", cpu, wall, n))
        await conn.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dsn", default=DEFAULT_DSN)
    p.add_argument("--groups", type=int, default=200)
    p.add_argument("--members", type=int, default=20)
    p.add_argument("--messages", type=int, default=4000)
    p.add_argument(
        "--batches",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 8, 32, 128],
        help="comma-separated batch sizes",
    )
    asyncio.run(run(p.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
