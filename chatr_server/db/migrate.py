"""Forward-only SQL migrations from ``sql/migrations/NNNN_description.sql``.

Applied versions are recorded in ``schema_migrations``. A session-level
advisory lock serialises concurrent runners (two app processes starting at
once), so the second waits and then finds nothing left to do. Each file runs
in its own transaction. The runner refuses a database that has versions this
code does not know, rather than running old code against a newer schema.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from chatr_server.db.queries import sql_dir

log = logging.getLogger(__name__)

# Arbitrary constant shared by every chatr_server process: "chatr" in ASCII.
MIGRATION_LOCK_KEY = 0x6368617472


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    path: Path

    def sql(self) -> str:
        return self.path.read_text()


def discover(folder: Path | None = None) -> list[Migration]:
    folder = folder or sql_dir() / "migrations"
    migrations = []
    for path in sorted(folder.glob("*.sql")):
        version = path.stem.split("_", 1)[0]
        if not version.isdigit():
            raise MigrationError(f"migration file name must start with digits: {path.name}")
        migrations.append(Migration(version, path))
    versions = [m.version for m in migrations]
    if len(versions) != len(set(versions)):
        raise MigrationError("two migration files share a version number")
    return migrations


async def migrate(conn: asyncpg.Connection, folder: Path | None = None) -> list[str]:
    """Apply pending migrations; return the versions applied by this call."""
    migrations = discover(folder)
    known = {m.version for m in migrations}
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        unknown = done - known
        if unknown:
            raise MigrationError(
                f"database has migrations this code does not know: {sorted(unknown)}; "
                "refusing to run an older server against a newer schema"
            )
        for migration in migrations:
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql())
                await conn.execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)", migration.version
                )
            log.info("applied migration %s", migration.path.name)
            applied_now.append(migration.version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    return applied_now


async def pending(conn: asyncpg.Connection, folder: Path | None = None) -> list[str]:
    """Versions not yet applied (used by the start-up check)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    done: set[str] = set()
    if exists:
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
    return [m.version for m in discover(folder) if m.version not in done]
