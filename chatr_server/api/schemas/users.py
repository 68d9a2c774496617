"""Request and response schemas of ``/api/users``."""

from __future__ import annotations

from marshmallow import Schema, fields

from chatr_server.api.schemas.common import complete
from chatr_server.util.validation import required


@complete()
class UserMeSchema(Schema):
    id = fields.UUID()
    email = fields.String(allow_none=True)
    phoneNumber = fields.String(allow_none=True)
    username = fields.String()
    displayName = fields.String(allow_none=True)
    firstName = fields.String(allow_none=True)
    lastName = fields.String(allow_none=True)
    profileImage = fields.String(allow_none=True)
    coverImage = fields.String(allow_none=True)
    emailVerified = fields.Boolean()
    phoneVerified = fields.Boolean()
    createdAt = fields.String()
    privacyOnlineStatus = fields.String()
    privacyPhone = fields.String()
    privacyEmail = fields.String()
    privacyFullName = fields.String()
    privacyGender = fields.String()
    privacyJoinedDate = fields.String()
    gender = fields.String(allow_none=True)
    isSupport = fields.Boolean()


@complete()
class UpdatedProfileSchema(Schema):
    id = fields.UUID()
    username = fields.String()
    displayName = fields.String(allow_none=True)
    firstName = fields.String(allow_none=True)
    lastName = fields.String(allow_none=True)
    profileImage = fields.String(allow_none=True)
    coverImage = fields.String(allow_none=True)
    gender = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phoneNumber = fields.String(allow_none=True)


class UsernameQuerySchema(Schema):
    username = fields.String(
        required=True,
        error_messages=required("Username is required"),
        metadata={"description": "with or without @"},
    )


class AvailabilitySchema(Schema):
    available = fields.Boolean()


class SuggestionsSchema(Schema):
    suggestions = fields.List(fields.String())
