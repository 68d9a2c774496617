"""Timestamps in the contract's format: ISO-8601 UTC, three fractional digits, ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_ms(value: datetime | None) -> str | None:
    """``2026-03-05T14:07:09.123Z``; ``None`` stays ``None``."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.isoformat(timespec="milliseconds") + "Z"
    if value.utcoffset():
        value = value.astimezone(UTC)
    # isoformat is C code: much cheaper than strftime on the message path.
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"


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
