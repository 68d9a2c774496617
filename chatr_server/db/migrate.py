"""Forward-only SQL migrations from ``sql/migrations/NNNN_description.sql``.

Applied versions are recorded in ``schema_migrations`` with the sha256 of the
file as it was applied. A session-level advisory lock serialises concurrent
runners (two app processes starting at once), so the second waits and then
finds nothing left to do. Each file runs in its own transaction.

The runner refuses, with one line naming the cause:

* a database that has versions this code does not know (old code, newer schema);
* an applied file whose bytes changed since (a landed migration was edited:
  the database and a fresh one built from the files would differ);
* a pending file numbered below the newest applied one (it would run out of
  order on existing databases but in order on fresh ones).

Databases migrated before checksums were recorded adopt the current files'
checksums on the first run (rows whose checksum is NULL). The rules for
authors are in ``sql/migrations/README.md``.
"""

from __future__ import annotations

import hashlib
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

    def checksum(self) -> str:
        """sha256 of the file's bytes: any edit, even whitespace, changes it."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


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


async def _applied(conn: asyncpg.Connection) -> dict[str, str | None]:
    """Applied version → recorded checksum (None before checksums were recorded)."""
    rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
    return {r["version"]: r["checksum"] for r in rows}


def _plan(migrations: list[Migration], applied: dict[str, str | None]) -> list[Migration]:
    """The migrations still to apply, after checking the applied ones against the files."""
    unknown = applied.keys() - {m.version for m in migrations}
    if unknown:
        raise MigrationError(
            f"database has migrations this code does not know: {sorted(unknown)}; "
            "refusing to run an older server against a newer schema"
        )
    for migration in migrations:
        recorded = applied.get(migration.version)
        if recorded is not None and recorded != migration.checksum():
            raise MigrationError(
                f"migration {migration.path.name} was changed after it was applied "
                "(its checksum differs from the one recorded): restore the file and put "
                "the change in a new migration"
            )
    todo = [m for m in migrations if m.version not in applied]
    newest = max(applied, key=int, default=None)
    for migration in todo:
        if newest is not None and int(migration.version) < int(newest):
            raise MigrationError(
                f"migration {migration.path.name} is numbered below the newest applied "
                f"version {newest}: renumber it above {newest}"
            )
    return todo


async def migrate(conn: asyncpg.Connection, folder: Path | None = None) -> list[str]:
    """Apply pending migrations; return the versions applied by this call."""
    migrations = discover(folder)
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        # The runner owns this table (it must exist before any migration can run),
        # so its columns are managed here, not in a numbered migration. ADD COLUMN
        # IF NOT EXISTS upgrades tables created before checksums were recorded.
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now(),"
            " checksum text)"
        )
        await conn.execute("ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text")
        applied = await _applied(conn)
        await _adopt_checksums(conn, migrations, applied)
        for migration in _plan(migrations, applied):
            async with conn.transaction():
                await conn.execute(migration.sql())
                await conn.execute(
                    "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                    migration.version,
                    migration.checksum(),
                )
            log.info("applied migration %s", migration.path.name)
            applied_now.append(migration.version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    return applied_now


async def _adopt_checksums(
    conn: asyncpg.Connection, migrations: list[Migration], applied: dict[str, str | None]
) -> None:
    """Record today's checksums for versions applied before checksums existed (once).

    Nothing can tell whether such a file changed since it ran, so the current
    file becomes the reference from now on. Updates ``applied`` in place.
    """
    adopted = []
    for migration in migrations:
        if migration.version in applied and applied[migration.version] is None:
            checksum = migration.checksum()
            await conn.execute(
                "UPDATE schema_migrations SET checksum = $2"
                " WHERE version = $1 AND checksum IS NULL",
                migration.version,
                checksum,
            )
            applied[migration.version] = checksum
            adopted.append(migration.version)
    if adopted:
        log.info("recorded checksums of migrations applied before checksums existed: %s", adopted)


async def pending(conn: asyncpg.Connection, folder: Path | None = None) -> list[str]:
    """Versions not yet applied (the production start-up check; it writes nothing).

    Raises :class:`MigrationError` as :func:`migrate` would, except that rows
    without a checksum are not judged (``migrate`` adopts them).
    """
    migrations = discover(folder)
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return [m.version for m in migrations]
    has_checksum = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns"
        " WHERE table_name = 'schema_migrations' AND column_name = 'checksum'"
        " AND table_schema = current_schema())"
    )
    if has_checksum:
        applied = await _applied(conn)
    else:
        rows = await conn.fetch("SELECT version FROM schema_migrations")
        applied = {r["version"]: None for r in rows}
    return [m.version for m in _plan(migrations, applied)]
