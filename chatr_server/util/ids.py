"""Identifier helpers."""

from __future__ import annotations

import re
import uuid

_CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def parse_uuid(value: object) -> uuid.UUID | None:
    """A UUID from client input, or ``None`` when it is not one (never raises)."""
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def uuid_text(value: object) -> str | None:
    """The canonical text (lowercase, hyphenated) of a UUID from client input, or ``None``.

    For the message hot path, where the id is only ever used as text: the usual
    canonical spelling costs one regex match instead of a ``uuid.UUID`` object
    and its conversion back to a string. Other spellings go through ``parse_uuid``.
    """
    if type(value) is str and len(value) == 36 and _CANONICAL.fullmatch(value):
        return value.lower()
    parsed = parse_uuid(value)
    return None if parsed is None else str(parsed)
