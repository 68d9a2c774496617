"""Shared marshmallow building blocks."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, TypeVar

from marshmallow import Schema, fields, validate

from chatr_server.util.validation import Verbatim, required

WAVEFORM_REQUIRED = "waveform array required"

S = TypeVar("S", bound=type[Schema])


def complete(*optional: str) -> Callable[[S], S]:
    """Response schema decorator: every field is always sent, except those named.

    The fields become ``required``, so the OpenAPI document says which keys
    a client can count on and the tests' response check catches one missing.
    """

    def mark(cls: S) -> S:
        unknown = set(optional) - set(cls._declared_fields)
        if unknown:
            raise ValueError(f"{cls.__name__}: no fields {sorted(unknown)}")
        for name, field in list(cls._declared_fields.items()):
            own = copy.copy(field)  # a base class's field object stays as it was
            own.required = name not in optional
            cls._declared_fields[name] = own
        return cls

    return mark


def Str(**kwargs: object) -> fields.String:
    """A string field that accepts null and is optional (the client often sends undefined)."""
    return fields.String(allow_none=True, load_default=None, **kwargs)  # type: ignore[arg-type]


def Waveform(max_bars: int | None = None) -> fields.List:
    """A voice message's bars; any fault is the contract's one ``waveform array required``."""
    text = Verbatim(WAVEFORM_REQUIRED)
    bar = fields.Float(error_messages={"invalid": text, "special": text, "too_large": text})
    extra: dict[str, Any] = {}
    if max_bars is not None:
        extra["validate"] = validate.Length(max=max_bars, error=text)
    return fields.List(
        bar, required=True, error_messages={**required(WAVEFORM_REQUIRED), "invalid": text}, **extra
    )


class MessageSchema(Schema):
    message = fields.String(required=True)


class OkSchema(Schema):
    ok = fields.Boolean(required=True)


class SuccessSchema(Schema):
    success = fields.Boolean()


class ImageUrlSchema(Schema):
    url = fields.String()


class FriendshipRefSchema(Schema):
    """The caller's friendship row with another user, as shown next to that user."""

    id = fields.UUID()
    status = fields.String()
    iRequested = fields.Boolean()
