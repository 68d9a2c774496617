"""The migration runner against a real, empty database."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from chatr_server.db.migrate import MigrationError, discover, migrate, pending
from chatr_server.db.queries import sql_dir


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


def _copy_sql(tmp_path: Path) -> Path:
    """A private copy of the SQL folder the test can edit (the real files stay untouched)."""
    folder = tmp_path / "sql"
    shutil.copytree(sql_dir(), folder)
    return folder


async def _migrated_copy(dsn: str, tmp_path: Path) -> Path:
    folder = _copy_sql(tmp_path)
    conn = await asyncpg.connect(dsn)
    await migrate(conn, folder / "migrations")
    await conn.close()
    return folder


async def test_fresh_database_records_each_file_checksum(empty_db):
    conn = await asyncpg.connect(empty_db)
    await migrate(conn)
    rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
    await conn.close()
    expected = {m.version: hashlib.sha256(m.path.read_bytes()).hexdigest() for m in discover()}
    assert {r["version"]: r["checksum"] for r in rows} == expected


def _run_cli(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatr_server", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _one_line_naming(stderr: str, name: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if name in line]
    assert len(lines) == 1, stderr
    assert "migration error: " in lines[0], stderr
    return lines[0]


async def test_edited_applied_migration_stops_migrate_and_serve(empty_db, tmp_path):
    folder = await _migrated_copy(empty_db, tmp_path)
    edited = folder / "migrations" / "0004_groups.sql"
    edited.write_text(edited.read_text() + "\n-- a harmless-looking comment\n")
    env = {
        "DATABASE_URL": empty_db,
        "PATH": "/usr/bin:/bin",
        "CHATR_DATA_DIR": str(tmp_path / "var"),
        "CHATR_SQL_DIR": str(folder),
    }
    migrate_run = await asyncio.to_thread(_run_cli, ["migrate"], env)
    assert migrate_run.returncode == 1
    line = _one_line_naming(migrate_run.stderr, "0004_groups.sql")
    assert "changed after it was applied" in line
    # Production `serve` only checks (it never migrates): same refusal, before listening.
    prod = {**env, "NODE_ENV": "production", "JWT_SECRET": secrets.token_urlsafe(40)}
    serve_run = await asyncio.to_thread(_run_cli, ["serve", "--port", "1"], prod)
    assert serve_run.returncode == 1
    _one_line_naming(serve_run.stderr, "0004_groups.sql")
    # Development `serve` migrates at start-up: refused the same way.
    serve_dev = await asyncio.to_thread(_run_cli, ["serve", "--port", "1"], env)
    assert serve_dev.returncode == 1
    _one_line_naming(serve_dev.stderr, "0004_groups.sql")


async def test_pending_version_below_newest_applied_is_refused(empty_db, tmp_path):
    folder = await _migrated_copy(empty_db, tmp_path)
    (folder / "migrations" / "0002_late_arrival.sql").write_text("CREATE TABLE late (id int);\n")
    conn = await asyncpg.connect(empty_db)
    try:
        with pytest.raises(MigrationError, match=r"0002_late_arrival\.sql .*below") as refused:
            await migrate(conn, folder / "migrations")
        newest = max(m.version for m in discover())
        assert newest in str(refused.value)
        with pytest.raises(MigrationError, match=r"0002_late_arrival\.sql"):
            await pending(conn, folder / "migrations")
        assert await conn.fetchval("SELECT to_regclass('late')") is None
    finally:
        await conn.close()


async def test_database_migrated_before_checksums_adopts_them_once(empty_db, tmp_path):
    folder = await _migrated_copy(empty_db, tmp_path)
    migrations_dir = folder / "migrations"
    conn = await asyncpg.connect(empty_db)
    try:
        # The table as the runner created it before checksums existed.
        await conn.execute("ALTER TABLE schema_migrations DROP COLUMN checksum")
        assert await pending(conn, migrations_dir) == []
        # A file edited while nothing could notice: adoption takes it as the reference.
        edited = migrations_dir / "0005_social.sql"
        edited.write_text(edited.read_text() + "\n-- edited before checksums existed\n")
        assert await migrate(conn, migrations_dir) == []
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
        expected = {m.version: m.checksum() for m in discover(migrations_dir)}
        assert {r["version"]: r["checksum"] for r in rows} == expected
        # From now on the adopted checksum is enforced.
        edited.write_text(edited.read_text() + "-- and again\n")
        with pytest.raises(MigrationError, match=r"0005_social\.sql"):
            await migrate(conn, migrations_dir)
        with pytest.raises(MigrationError, match=r"0005_social\.sql"):
            await pending(conn, migrations_dir)
    finally:
        await conn.close()
