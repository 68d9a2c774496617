"""Named SQL queries loaded from ``sql/queries/<area>.sql``.

Each file holds blocks that start with ``-- name: <query_name>``; the text up
to the next marker is the query, with asyncpg's native ``$1`` parameters.
Code reads them as ``queries.users.by_id``. Keeping SQL in files lets a
reviewer read every statement the server runs in one place.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

_NAME_MARKER = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def sql_dir() -> Path:
    """The SQL shipped with the package (overridable with ``CHATR_SQL_DIR``).

    ``chatr_server/sql`` is a symlink to the top-level ``sql/`` in a checkout
    (editable install) and a real folder in an installed wheel, so the same
    lookup works from any working directory.
    """
    override = os.environ.get("CHATR_SQL_DIR")
    if override:
        return Path(override)
    # The package is installed unpacked (never zipped), so the resource is a real path.
    return Path(str(resources.files("chatr_server") / "sql"))


class QueryFile:
    """The queries of one ``.sql`` file, as attributes."""

    def __init__(self, area: str, text: str) -> None:
        self._area = area
        self._queries: dict[str, str] = {}
        parts = _NAME_MARKER.split(text)
        # parts = [preamble, name1, body1, name2, body2, ...]
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            query = body.strip()
            if not query:
                raise ValueError(f"sql/queries/{area}.sql: query {name!r} is empty")
            if name in self._queries:
                raise ValueError(f"sql/queries/{area}.sql: duplicate query {name!r}")
            self._queries[name] = query

    def __getattr__(self, name: str) -> str:
        try:
            return self._queries[name]
        except KeyError:
            raise AttributeError(f"no query {name!r} in sql/queries/{self._area}.sql") from None

    def names(self) -> list[str]:
        return sorted(self._queries)


class Queries:
    """All query files under ``sql/queries``, loaded once at start-up."""

    def __init__(self, folder: Path | None = None) -> None:
        folder = folder or sql_dir() / "queries"
        self._files = {
            path.stem: QueryFile(path.stem, path.read_text())
            for path in sorted(folder.glob("*.sql"))
        }

    def __getattr__(self, area: str) -> QueryFile:
        try:
            return self._files[area]
        except KeyError:
            raise AttributeError(f"no file sql/queries/{area}.sql") from None
