"""An embedded PostgreSQL for running with nothing configured.

Used only when ``DATABASE_URL`` is unset. It relies on the ``pgserver``
package (the ``embedded-pg`` extra), which ships PostgreSQL binaries in its
wheel and keeps the data folder under ``<data_dir>/pgdata``. A cold start
(initdb) takes one to two seconds; later starts reuse the folder.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self._dir = (data_dir / "pgdata").resolve()
        self._server: Any = None

    async def start(self) -> str:
        """Start (or reuse) the server and return a connection URL for asyncpg."""
        try:
            import pgserver
        except ImportError as exc:  # pragma: no cover - depends on install
            raise RuntimeError(
                "DATABASE_URL is not set and the embedded PostgreSQL is not installed; "
                "install the 'embedded-pg' extra or set DATABASE_URL"
            ) from exc
        self._dir.mkdir(parents=True, exist_ok=True)
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
