"""Profile bodies shared by ``PUT /api/users/me`` and ``users:me:update``."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class UpdateMeSchema(Schema):
    # No load_default: an absent key leaves the column unchanged, null clears it.
    displayName = fields.String(allow_none=True, validate=validate.Length(max=256))
    firstName = fields.String(allow_none=True, validate=validate.Length(max=256))
    lastName = fields.String(allow_none=True, validate=validate.Length(max=256))
    gender = fields.String(allow_none=True, validate=validate.Length(max=32))
