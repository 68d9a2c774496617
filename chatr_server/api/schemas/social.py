"""Request and response schemas of ``/api/friends``, ``/api/conversations`` and privacy settings.

Documentation only: handlers pass bodies to the service, which checks them
(the same checks serve the socket RPC events).
"""

from __future__ import annotations

from marshmallow import Schema, fields

from chatr_server.api.schemas.common import FriendshipRefSchema


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
    addresseeId = fields.UUID(required=True)


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


class PrivacySettingsSchema(Schema):
    privacyOnlineStatus = fields.String(metadata={"enum": ["everyone", "friends", "nobody"]})
    privacyPhone = fields.String(metadata={"enum": ["everyone", "friends", "nobody"]})
    privacyEmail = fields.String(metadata={"enum": ["everyone", "friends", "nobody"]})
    privacyFullName = fields.String(metadata={"enum": ["everyone", "friends", "nobody"]})
    privacyGender = fields.String(metadata={"enum": ["everyone", "friends", "nobody"]})
    privacyJoinedDate = fields.String(metadata={"enum": ["everyone", "friends", "nobody"]})
