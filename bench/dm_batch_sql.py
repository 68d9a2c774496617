#!/usr/bin/env python3
"""PostgreSQL cost per message of a group-committed DM batch, before and after 0011.

    .venv/bin/python bench/dm_batch_sql.py [--dsn postgresql://postgres@127.0.0.1:5432/postgres]
                                           [--users 2000] [--batch 128] [--batches 100]

Creates a throw-away database (the real migrations), seeds ``--users`` users with
accepted conversations between ring neighbours (ten messages of history each),
pending requests to five more users each and ~10 accepted friendships each,
then stores batches the way ``MessagingRepo.send_dm_batch`` does, alternating:

* before: ``chatr_send_dm_plain`` (migration 0008), then ``chatr_send_dm`` row by
  row for whatever it left (the repository before 0011);
* after: ``chatr_send_dm_batch`` (migration 0011), then the same fallback.

Two workloads: accepted pairs (ring neighbours) and first contacts (random
recipients among all users: nearly every message opens a pair). Reported per
message: the database backend's CPU time (``/proc/<pid>/schedstat``: PostgreSQL
must run on this machine) and the statements' wall time seen by the client.
``synchronous_commit = off``, as in the load tests. The database is dropped
afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import secrets
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatr_server.db.migrate import migrate
from chatr_server.db.pool import _init_connection
from chatr_server.db.queries import Queries
from chatr_server.repos.messaging import batch_json

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
BEFORE = "SELECT p.n, (p.result).* FROM chatr_send_dm_plain($1) AS p"


def with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


@contextlib.asynccontextmanager
async def throwaway_database(dsn: str, prefix: str) -> AsyncIterator[str]:
    """A new database on ``dsn``'s server with the real migrations, dropped afterwards;
    yields its DSN."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        db = with_database(dsn, name)
        conn = await asyncpg.connect(db)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        yield db
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def per_message(label: str, cpu: float, wall: float, n: int) -> str:
    """One result line: PostgreSQL CPU and statement wall time per message."""
    return (
        f"{label}  PostgreSQL CPU {cpu / n * 1e6:6.1f} µs/message"
        f"  statement wall {wall / n * 1e6:6.1f} µs/message"
    )


def backend_cpu(pid: int) -> float:
    """Seconds the backend spent on a CPU (nanosecond counter, unlike the 10 ms ticks)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


async def seed(conn: asyncpg.Connection, users: int) -> list[str]:
    await conn.execute(
        "INSERT INTO users (username, password_hash) SELECT '@bench_' || g, 'x'"
        " FROM generate_series(1, $1) g",
        users,
    )
    ids = [str(r["id"]) for r in await conn.fetch("SELECT id FROM users ORDER BY username")]
    await conn.execute(
        """
        INSERT INTO conversations (participant_a, participant_b, initiator_id, status)
        SELECT DISTINCT LEAST(a, b), GREATEST(a, b), a, 'accepted'
        FROM unnest($1::uuid[], $2::uuid[]) AS r(a, b)
        """,
        ids,
        ids[1:] + ids[:1],
    )
    pairs = {tuple(sorted(random.sample(range(users), 2))) for _ in range(users * 10)}
    await conn.execute(
        "INSERT INTO friendships (requester_id, addressee_id, status)"
        " SELECT a, b, 'accepted' FROM unnest($1::uuid[], $2::uuid[]) AS r(a, b)",
        [ids[a] for a, _ in pairs],
        [ids[b] for _, b in pairs],
    )
    # Pending requests (each user to the five after its ring neighbour) and history
    # before the measured sends, so that statistics and plans see tables of the
    # size the run grows them to: plans made for an empty messages table (or a
    # few pending conversations) scan it sequentially, and a session keeps them
    # while the run grows it (the row-by-row path then read every stored message
    # per send).
    await conn.execute(
        "INSERT INTO conversations (participant_a, participant_b, initiator_id)"
        " SELECT LEAST(a, b), GREATEST(a, b), a"
        " FROM unnest($1::uuid[]) WITH ORDINALITY AS s(a, i),"
        " LATERAL (SELECT ($1::uuid[])[1 + (i::int + k) % $2] AS b"
        "          FROM generate_series(1, 5) AS k) AS o"
        " ON CONFLICT DO NOTHING",
        ids,
        users,
    )
    await conn.execute(
        "INSERT INTO messages (sender_id, recipient_id, content)"
        " SELECT a, b, 'history' FROM unnest($1::uuid[], $2::uuid[]) AS r(a, b),"
        " generate_series(1, 10)",
        ids,
        ids[1:] + ids[:1],
    )
    await conn.execute("ANALYZE")
    return ids


def message(sender: str, recipient: str) -> tuple[Any, ...]:
    """A ``chatr_send_dm`` argument tuple: plain text, fresh temp id, recipient online."""
    return (sender, recipient, "hello there", "text", *([None] * 8), secrets.token_hex(8))


async def store(conn: asyncpg.Connection, statement: str, fallback: str, rows: list) -> None:
    """What MessagingRepo.send_dm_batch does with one set-based statement."""
    done = {r["n"] - 1 for r in await conn.fetch(statement, batch_json(rows))}
    rest = [row for i, row in enumerate(rows) if i not in done]
    if rest:
        await conn.fetch(fallback, batch_json(rest))


async def run(args: argparse.Namespace) -> None:
    async with throwaway_database(args.dsn, "chatr_dmbench") as dsn:
        setup = await asyncpg.connect(dsn)
        ids = await seed(setup, args.users)
        await setup.close()
        queries = Queries().messaging
        after = queries.send_dm_batch_set
        conns = {}
        for label, statement in (("before", BEFORE), ("after", after)):
            conn = await asyncpg.connect(dsn)
            await _init_connection(conn)
            await conn.execute("SET synchronous_commit = off")
            conns[label] = (conn, statement, await conn.fetchval("SELECT pg_backend_pid()"))

        users = args.users

        def accepted() -> list[tuple[Any, ...]]:
            picks = (random.randrange(users) for _ in range(args.batch))
            return [(*message(ids[i], ids[(i + 1) % users]), None, True) for i in picks]

        def first_contacts() -> list[tuple[Any, ...]]:
            picks = (random.sample(range(users), 2) for _ in range(args.batch))
            return [(*message(ids[a], ids[b]), None, True) for a, b in picks]

        print(f"{args.batches} batches of {args.batch} per workload and variant, {users} users")
        for workload, make in (("accepted pairs", accepted), ("first contacts", first_contacts)):
            totals = {label: [0.0, 0.0] for label in conns}
            warmup = 4
            for k in range(2 * (args.batches + warmup)):
                label = ("before", "after")[k % 2]
                conn, statement, pid = conns[label]
                rows = make()
                cpu, wall = backend_cpu(pid), time.perf_counter()
                await store(conn, statement, queries.send_dm_batch, rows)
                if k >= 2 * warmup:
                    totals[label][0] += backend_cpu(pid) - cpu
                    totals[label][1] += time.perf_counter() - wall
            n = args.batches * args.batch
            for label, (cpu, wall) in totals.items():
                print(per_message(f"{workload:15} {label:6}", cpu, wall, n))
        for conn, _, _ in conns.values():
            await conn.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dsn", default=DEFAULT_DSN)
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--batches", type=int, default=100)
    asyncio.run(run(p.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
