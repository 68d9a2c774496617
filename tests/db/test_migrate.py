"""The migration runner against a real, empty database."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest_asyncio

from chatr_server.db.migrate import MigrationError, discover, migrate


@pytest_asyncio.fixture
async def empty_db(pg_server_dsn):
    name = f"chatr_mig_{secrets.token_hex(5)}"
    admin = await asyncpg.connect(pg_server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(pg_server_dsn)
    dsn = urlunsplit(parts._replace(path="/" + name))
    yield dsn
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def _tables(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    await conn.close()
    return {r["tablename"] for r in rows}


async def test_migrate_twice_is_a_no_op(empty_db):
    conn = await asyncpg.connect(empty_db)
    first = await migrate(conn)
    second = await migrate(conn)
    await conn.close()
    assert first == [m.version for m in discover()]
    assert second == []
    assert {"users", "messages", "groups", "group_members", "conversations"} <= await _tables(
        empty_db
    )


async def test_two_concurrent_runners_apply_each_migration_once(empty_db):
    conns = [await asyncpg.connect(empty_db) for _ in range(2)]
    results = await asyncio.gather(*(migrate(c) for c in conns))
    for c in conns:
        await c.close()
    applied = sorted(v for r in results for v in r)
    assert applied == sorted(m.version for m in discover())
    conn = await asyncpg.connect(empty_db)
    count = await conn.fetchval("SELECT count(*) FROM schema_migrations")
    await conn.close()
    assert count == len(discover())


async def test_refuses_unknown_newer_version(empty_db):
    conn = await asyncpg.connect(empty_db)
    await migrate(conn)
    await conn.execute("INSERT INTO schema_migrations (version) VALUES ('9999')")
    try:
        await migrate(conn)
    except MigrationError as exc:
        assert "9999" in str(exc)
    else:
        raise AssertionError("a newer schema must be refused")
    finally:
        await conn.close()


def test_cli_migrate_twice_and_concurrently(empty_db, tmp_path):
    """Two processes start on a fresh data folder: both create-or-read the dev secret."""
    env = {"DATABASE_URL": empty_db, "PATH": "/usr/bin:/bin", "CHATR_DATA_DIR": str(tmp_path)}
    cmd = [sys.executable, "-m", "chatr_server", "migrate"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=60)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted("applied 0" in o for o in outputs) == [False, True]
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, check=True)
    assert "applied 0 migration(s)" in again.stdout
