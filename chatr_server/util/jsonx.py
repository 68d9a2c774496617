"""JSON helpers: orjson everywhere, compact like JavaScript's JSON.stringify."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(raw: str | bytes) -> Any:
    return orjson.loads(raw)


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response encoded with orjson (faster than aiohttp's default json module)."""
    return web.Response(
        body=orjson.dumps(data),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def error_response(
    message: str, status: int, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    """The contract's ``{"error": …}`` body."""
    return json_response({"error": message, **extra}, status=status, headers=headers)
