"""Shared marshmallow building blocks."""

from __future__ import annotations

from marshmallow import Schema, fields


def Str(**kwargs: object) -> fields.String:
    """A string field that accepts null and is optional (the client often sends undefined)."""
    return fields.String(allow_none=True, load_default=None, **kwargs)  # type: ignore[arg-type]


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
