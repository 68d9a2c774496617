"""An embedded PostgreSQL for running with nothing configured.

Used only when ``DATABASE_URL`` is unset. It relies on the ``pgserver``
package (the ``embedded-pg`` extra), which ships PostgreSQL binaries in its
wheel and keeps the data folder under ``<data_dir>/pgdata``. A cold start
(initdb) takes one to two seconds; later starts reuse the folder.

PostgreSQL refuses to run as root, so when started by root pgserver runs it as
a system user named ``pgserver``, creating that user with ``useradd`` found on
``PATH``. ``useradd`` lives in ``/usr/sbin``, which a minimal ``PATH`` (cron,
``env -i``, some sudo set-ups) leaves out; :func:`ensure_root_user` creates the
user itself and otherwise explains what to do.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import shutil
import subprocess
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# The account pgserver runs PostgreSQL as when the server process is root.
ROOT_RUN_AS = "pgserver"
SBIN_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")


class EmbeddedPostgresError(RuntimeError):
    """The embedded server cannot start; the message says what to do instead."""


def ensure_root_user() -> None:
    """As root, make sure the account pgserver needs exists (no-op otherwise)."""
    if os.geteuid() != 0:
        return
    try:
        pwd.getpwnam(ROOT_RUN_AS)
        return
    except KeyError:
        pass
    search = os.pathsep.join([os.environ.get("PATH", ""), *SBIN_DIRS])
    useradd = shutil.which("useradd", path=search)
    advice = (
        f"the embedded PostgreSQL cannot run as root and needs a system user "
        f"'{ROOT_RUN_AS}' to run as: create it (useradd --system {ROOT_RUN_AS}), "
        "run as a non-root user, or set DATABASE_URL"
    )
    if useradd is None:
        raise EmbeddedPostgresError(f"{advice} (useradd not found)")
    done = subprocess.run(
        [useradd, "--system", "--shell", "/usr/sbin/nologin", ROOT_RUN_AS],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise EmbeddedPostgresError(f"{advice} (useradd failed: {done.stderr.strip()})")
    log.info("created system user %s to run the embedded PostgreSQL as", ROOT_RUN_AS)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self._dir = (data_dir / "pgdata").resolve()
        self._server: Any = None

    async def start(self) -> str:
        """Start (or reuse) the server and return a connection URL for asyncpg."""
        try:
            import pgserver
        except ImportError as exc:  # pragma: no cover - depends on install
            raise EmbeddedPostgresError(
                "DATABASE_URL is not set and the embedded PostgreSQL is not installed; "
                "install the 'embedded-pg' extra or set DATABASE_URL"
            ) from exc
        self._dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(ensure_root_user)
        self._server = await asyncio.to_thread(
            pgserver.get_server, str(self._dir), cleanup_mode="stop"
        )
        uri: str = self._server.get_uri()
        log.info("embedded PostgreSQL running", extra={"pgdata": str(self._dir)})
        return uri

    async def stop(self) -> None:
        if self._server is not None:
            await asyncio.to_thread(self._server.cleanup)
            self._server = None
