"""Schema validation shared by the REST handlers and the socket RPCs."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError

from chatr_server.errors import bad_request


def validate(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    """Check types with a marshmallow schema; unknown keys are dropped (400 ``field: why``)."""
    try:
        return schema.load(data, unknown=EXCLUDE)
    except ValidationError as exc:
        field, messages = next(iter(exc.normalized_messages().items()))
        message = messages[0] if isinstance(messages, list) and messages else str(messages)
        raise bad_request(f"{field}: {message}") from None
