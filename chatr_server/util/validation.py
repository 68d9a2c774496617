"""Schema validation shared by the REST handlers and the socket RPCs, in the contract's words.

A route's declared schema and an RPC event's payload are loaded by the same
:func:`validate`. A failure becomes a 400 whose text is either the contract's
own (a :class:`Verbatim` message on the field) or ``"<field>: <marshmallow message>"``.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields

from chatr_server.errors import bad_request


class Verbatim(str):
    """An error message sent to the client as it stands (the contract's text).

    It survives marshmallow's ``str.format`` of error messages, so it can be
    given as a field's ``error_messages`` entry or a validator's ``error``.
    """

    __slots__ = ()

    def format(self, *args: Any, **kwargs: Any) -> Verbatim:
        return Verbatim(str.format(self, *args, **kwargs))


def required(text: str, invalid: str | None = None) -> dict[str, Verbatim]:
    """``error_messages`` answering ``text`` when the field is absent, null or (unless
    ``invalid`` says otherwise) of another type."""
    messages = {key: Verbatim(text) for key in ("required", "null", "invalid")}
    if invalid is not None:
        messages["invalid"] = Verbatim(invalid)
    return messages


class Trimmed(fields.String):
    """A string with surrounding whitespace removed; blank reads as ``None``.

    ``blank`` (when given) is the verbatim error for a value that is blank
    after trimming, which is then as good as missing.
    """

    def __init__(self, *, blank: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._blank = blank

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text and self._blank is not None:
            raise ValidationError(Verbatim(self._blank))
        return text or None

    def _validate(self, value: Any) -> None:
        if value is not None:  # blank: nothing to measure
            super()._validate(value)


class StrictBoolean(fields.Boolean):
    """``true`` or ``false`` only (marshmallow's Boolean also takes ``1``, ``"yes"``…)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def _first_error(messages: Any) -> tuple[str | None, Any]:
    """The first (field, message) of marshmallow's nested error dict."""
    if isinstance(messages, dict):
        key, value = next(iter(messages.items()))
        inner_key, inner = _first_error(value)
        if isinstance(key, int) or key == "_schema":
            return inner_key, inner
        return (key if inner_key is None else inner_key), inner
    if isinstance(messages, list) and messages:
        return _first_error(messages[0])
    return None, messages


def validate(schema: Schema, data: Any) -> dict[str, Any]:
    """``data`` loaded by ``schema`` (unknown keys dropped), or a 400 in the contract's words."""
    try:
        return schema.load(data, unknown=EXCLUDE)
    except ValidationError as exc:
        field, message = _first_error(exc.messages)
        if isinstance(message, Verbatim):
            raise bad_request(str(message)) from None
        raise bad_request(f"{field}: {message}" if field else str(message)) from None
