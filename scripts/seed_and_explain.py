"""Seed a throw-away database with a million DMs and EXPLAIN the hot chat queries.

Usage (from the repository root)::

    python scripts/seed_and_explain.py [--dsn postgresql://postgres@127.0.0.1:5432/postgres]
                                       [--messages 1000000] [--users 5000] [--pairs 20000]
                                       [--keep]

It creates its own database (``chatr_explain_<hex>``), applies the real
migrations, seeds users, pairs, conversations, friendships and messages with
``generate_series`` (one "hot" pair holds a tenth of all messages; one "hot"
user has several hundred partners; ~5% of pairs have no conversation row), then
runs ``EXPLAIN (ANALYZE, BUFFERS)`` on the exact SQL the server uses for DM
history (first page and a deep ``before`` page) and the conversation list. It
fails if any plan reads ``messages`` with a sequential scan. The database is
dropped afterwards unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatr_server.db.migrate import migrate
from chatr_server.db.queries import Queries

HOT_PARTNERS = 400
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


async def seed(conn: asyncpg.Connection, users: int, pairs: int, messages: int) -> None:
    started = time.perf_counter()
    await conn.execute(
        """
        INSERT INTO users (username, password_hash, email_verified, display_name)
        SELECT '@seed_' || g, 'x', true, 'Seed ' || g FROM generate_series(1, $1) g
        """,
        users,
    )
    await conn.execute(
        """
        CREATE TABLE seed_users AS
        SELECT row_number() OVER (ORDER BY username) AS n, id FROM users
        """
    )
    await conn.execute("CREATE UNIQUE INDEX ON seed_users (n)")
    # Random pairs, plus the hot user (n = 1) talking to HOT_PARTNERS others.
    await conn.execute(
        """
        CREATE TABLE seed_pairs AS
        WITH r AS (
            SELECT 1 + floor(random() * $2)::int AS x, 1 + floor(random() * $2)::int AS y
            FROM generate_series(1, $1)
            UNION ALL
            SELECT 1, k FROM generate_series(2, $3 + 1) k
        ),
        uniq AS (
            SELECT DISTINCT LEAST(a.id, b.id) AS lo, GREATEST(a.id, b.id) AS hi
            FROM r JOIN seed_users a ON a.n = r.x JOIN seed_users b ON b.n = r.y
            WHERE r.x <> r.y
        )
        SELECT row_number() OVER (ORDER BY lo, hi) AS n, lo, hi FROM uniq
        """,
        pairs,
        users,
        HOT_PARTNERS,
    )
    await conn.execute("CREATE UNIQUE INDEX ON seed_pairs (n)")
    pair_count = await conn.fetchval("SELECT count(*) FROM seed_pairs")
    hot, partner = await conn.fetchrow(
        "SELECT (SELECT id FROM seed_users WHERE n = 1), (SELECT id FROM seed_users WHERE n = 2)"
    )
    hot_messages = messages // 10
    print(f"seeding {messages:,} messages over {pair_count:,} pairs of {users:,} users")
    # The hot pair: one message a minute, alternating sender, newest now.
    await conn.execute(
        """
        INSERT INTO messages (sender_id, recipient_id, content, created_at, is_read)
        SELECT CASE WHEN g % 2 = 0 THEN $1::uuid ELSE $2::uuid END,
               CASE WHEN g % 2 = 0 THEN $2::uuid ELSE $1::uuid END,
               'hot ' || g, now() - g * interval '1 minute', g > 20
        FROM generate_series(1, $3) g
        """,
        hot,
        partner,
        hot_messages,
    )
    rest = messages - hot_messages
    batch = 200_000
    for start in range(0, rest, batch):
        count = min(batch, rest - start)
        await conn.execute(
            """
            INSERT INTO messages (sender_id, recipient_id, content, created_at, is_read,
                                  deleted_at)
            SELECT CASE WHEN s.flip THEN p.lo ELSE p.hi END,
                   CASE WHEN s.flip THEN p.hi ELSE p.lo END,
                   'message ' || s.g, now() - s.age, s.r > 0.15,
                   CASE WHEN s.r2 < 0.02 THEN now() END
            FROM (SELECT g, random() < 0.5 AS flip, random() AS r, random() AS r2,
                         random() * interval '365 days' AS age,
                         1 + (g % $3::bigint) AS pn
                  FROM generate_series($1::int, $1::int + $2::int - 1) g) s
            JOIN seed_pairs p ON p.n = s.pn
            """,
            start,
            count,
            pair_count,
        )
        print(f"  {hot_messages + start + count:,} messages")
    # Conversation rows for ~95% of pairs; friendships and a few blocks.
    await conn.execute(
        """
        INSERT INTO conversations (participant_a, participant_b, initiator_id, status)
        SELECT lo, hi, lo, CASE WHEN n % 3 = 0 THEN 'pending' ELSE 'accepted' END
        FROM seed_pairs WHERE n % 20 <> 0
        """
    )
    await conn.execute(
        """
        INSERT INTO friendships (requester_id, addressee_id, status)
        SELECT lo, hi, CASE WHEN n % 97 = 0 THEN 'blocked' ELSE 'accepted' END
        FROM seed_pairs WHERE n % 7 = 0 OR n % 97 = 0
        """
    )
    await conn.execute("VACUUM ANALYZE")
    print(f"seeded in {time.perf_counter() - started:.1f} s")


async def explain(conn: asyncpg.Connection, title: str, sql: str, *args: object) -> str:
    rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)
    plan = "\n".join(r[0] for r in rows)
    print(f"\n=== {title}")
    lines = plan.splitlines()
    # The root node, its total buffers, every scan, and the timings.
    print(lines[0])
    for line in lines[1:]:
        if line.startswith("  Buffers:") or re.search(r"Scan |Execution Time|Planning Time", line):
            print(line.rstrip())
    if os.environ.get("EXPLAIN_FULL"):
        print(plan)
    if "Seq Scan on messages" in plan:
        raise SystemExit(f"FAIL: {title} reads messages with a sequential scan:\n{plan}")
    return plan


async def run(args: argparse.Namespace) -> None:
    name = f"chatr_explain_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(args.dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    print(f"database {name}")
    try:
        conn = await asyncpg.connect(with_database(args.dsn, name), command_timeout=3600)
        try:
            await migrate(conn)
            await seed(conn, args.users, args.pairs, args.messages)
            q = Queries()
            hot = await conn.fetchval("SELECT id FROM seed_users WHERE n = 1")
            partner = await conn.fetchval("SELECT id FROM seed_users WHERE n = 2")
            lo, hi = sorted([hot, partner])
            plan = await explain(
                conn, "history: newest page (hot pair)", q.messages.history_latest, lo, hi, 51
            )
            assert "messages_pair_created_idx" in plan
            anchor = await conn.fetchrow(
                "SELECT created_at, id FROM messages WHERE user_lo = $1 AND user_hi = $2 "
                "ORDER BY created_at DESC, id DESC OFFSET $3 LIMIT 1",
                lo,
                hi,
                args.messages // 20,
            )
            plan = await explain(
                conn,
                f"history: page before message #{args.messages // 20:,} (hot pair)",
                q.messages.history_before,
                lo,
                hi,
                anchor["created_at"],
                anchor["id"],
                51,
            )
            assert "messages_pair_created_idx" in plan
            partners = await conn.fetchval(
                "SELECT count(*) FROM conversations WHERE participant_a = $1 OR participant_b = $1",
                hot,
            )
            await explain(
                conn,
                f"conversation list: hot user ({partners} conversation rows)",
                q.messages.conversation_list,
                hot,
            )
            typical = await conn.fetchval("SELECT id FROM seed_users WHERE n = $1", args.users // 2)
            await explain(
                conn, "conversation list: typical user", q.messages.conversation_list, typical
            )
            await explain(conn, "connected users: hot user", q.directory.connected_user_ids, hot)
            print("\nOK: no sequential scan on messages")
        finally:
            await conn.close()
    finally:
        if args.keep:
            print(f"kept database {name}")
        else:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL") or DEFAULT_DSN)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--pairs", type=int, default=20000)
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
