"""Development delivery: write outgoing email and SMS to files instead of a provider."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

import orjson


async def write_outbox(outbox_dir: Path, kind: str, record: dict[str, object]) -> Path:
    """Write one delivery record as JSON into ``<outbox>/<kind>/`` and return its path."""

    def _write() -> Path:
        folder = outbox_dir / kind
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{int(time.time() * 1000)}-{secrets.token_hex(4)}.json"
        path.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))
        return path

    return await asyncio.to_thread(_write)
