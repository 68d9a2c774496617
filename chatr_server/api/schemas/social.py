"""Request and response schemas of ``/api/friends``, ``/api/conversations`` and privacy settings.

The routes enforce the request schemas; the services keep the checks the
socket RPC events (which carry the same bodies) rely on.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from chatr_server.api.schemas.common import FriendshipRefSchema, complete
from chatr_server.util.validation import Trimmed, required


class FriendSearchQuerySchema(Schema):
    q = fields.String(
        metadata={
            "description": (
                "at least 2 characters; matches username, display name and visible full names"
            )
        }
    )


@complete()
class UserCardSchema(Schema):
    id = fields.UUID()
    username = fields.String()
    displayName = fields.String(allow_none=True)
    firstName = fields.String(allow_none=True, metadata={"description": "null unless visible"})
    lastName = fields.String(allow_none=True, metadata={"description": "null unless visible"})
    profileImage = fields.String(allow_none=True)
    email = fields.String(
        allow_none=True, metadata={"description": "null unless privacyEmail allows"}
    )
    privacyOnlineStatus = fields.String()


@complete()
class FriendshipRowSchema(Schema):
    id = fields.UUID()
    requesterId = fields.UUID()
    addresseeId = fields.UUID()
    status = fields.String(metadata={"enum": ["pending", "accepted", "blocked"]})
    createdAt = fields.String()
    updatedAt = fields.String()


class FriendshipFullSchema(FriendshipRowSchema):
    requester = fields.Nested(UserCardSchema)
    addressee = fields.Nested(UserCardSchema)


@complete()
class FriendEntrySchema(Schema):
    friendshipId = fields.UUID()
    since = fields.String()
    user = fields.Nested(UserCardSchema)


class FriendsListSchema(Schema):
    friends = fields.List(fields.Nested(FriendEntrySchema))


class FriendRequestEntrySchema(Schema):
    friendshipId = fields.UUID()
    createdAt = fields.String()
    user = fields.Nested(UserCardSchema)


class FriendRequestsSchema(Schema):
    requests = fields.List(fields.Nested(FriendRequestEntrySchema))


class BlockedListSchema(Schema):
    blocked = fields.List(fields.Nested(FriendRequestEntrySchema))


class FriendSearchUserSchema(UserCardSchema):
    friendship = fields.Nested(FriendshipRefSchema, allow_none=True)


class FriendSearchSchema(Schema):
    users = fields.List(fields.Nested(FriendSearchUserSchema))


class FriendRequestBodySchema(Schema):
    addresseeId = Trimmed(
        required=True, blank="addresseeId required", error_messages=required("addresseeId required")
    )


class FriendshipResultSchema(Schema):
    friendship = fields.Nested(FriendshipFullSchema)
    autoAccepted = fields.Boolean(
        metadata={"description": "present when their request was accepted"}
    )


class BlockedFriendshipSchema(FriendshipRowSchema):
    addressee = fields.Nested(UserCardSchema)


class BlockResultSchema(Schema):
    friendship = fields.Nested(BlockedFriendshipSchema)


class BlockStatusSchema(Schema):
    blocked = fields.Boolean()
    blockedByMe = fields.Boolean(metadata={"description": "present when blocked"})


@complete()
class ConversationRowSchema(Schema):
    id = fields.UUID()
    participantA = fields.UUID()
    participantB = fields.UUID()
    initiatorId = fields.UUID()
    status = fields.String(metadata={"enum": ["pending", "accepted"]})
    createdAt = fields.String()
    updatedAt = fields.String()
    summary = fields.String(allow_none=True)
    summaryMessageCount = fields.Integer(allow_none=True)
    summaryGeneratedAt = fields.String(allow_none=True)


class ConversationResultSchema(Schema):
    conversation = fields.Nested(ConversationRowSchema)


def _privacy() -> fields.Field:
    # Raw: an invalid value is ignored by the service (the contract), not refused.
    return fields.Raw(allow_none=True, metadata={"enum": ["everyone", "friends", "nobody"]})


class PrivacySettingsSchema(Schema):
    privacyOnlineStatus = _privacy()
    privacyPhone = _privacy()
    privacyEmail = _privacy()
    privacyFullName = _privacy()
    privacyGender = _privacy()
    privacyJoinedDate = _privacy()
