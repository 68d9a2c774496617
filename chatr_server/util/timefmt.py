"""Timestamps in the contract's format: ISO-8601 UTC, three fractional digits, ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

# orjson writes a UTC datetime as "YYYY-MM-DDTHH:MM:SS[.ffffff]Z", quotes included.
_WITH_MICROSECONDS = len(b'"2026-03-05T14:07:09.123456Z"')


def iso_ms(value: datetime | None) -> str | None:
    """``2026-03-05T14:07:09.123Z``; ``None`` stays ``None``.

    Every message payload carries one: the UTC case (what asyncpg returns) goes
    through orjson's C formatter, about a third of ``isoformat(timespec=…)``'s cost.
    """
    if value is None:
        return None
    if value.tzinfo is None:
        return value.isoformat(timespec="milliseconds") + "Z"
    if value.tzinfo is not UTC and value.utcoffset():
        value = value.astimezone(UTC)
    text = orjson.dumps(value, option=orjson.OPT_UTC_Z)
    if len(text) == _WITH_MICROSECONDS:
        return text[1:24].decode() + "Z"
    return text[1:20].decode() + ".000Z"  # no fraction: a whole second


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_iso(value: str) -> datetime | None:
    """Parse an ISO timestamp from a client (``Z`` accepted); ``None`` when malformed."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
