"""Response schemas of the user directory routes (documentation only)."""

from __future__ import annotations

from marshmallow import Schema, fields

from chatr_server.api.schemas.common import FriendshipRefSchema, complete


class SearchQuerySchema(Schema):
    q = fields.String(
        metadata={"description": "text contained in username, display name or visible names"}
    )


@complete()
class ListedUserSchema(Schema):
    id = fields.UUID()
    username = fields.String()
    email = fields.String(allow_none=True, metadata={"description": "null unless privacy allows"})
    emailVerified = fields.Boolean()
    createdAt = fields.String(allow_none=True)
    displayName = fields.String(allow_none=True)
    firstName = fields.String(allow_none=True)
    lastName = fields.String(allow_none=True)
    profileImage = fields.String(allow_none=True)


class UserListSchema(Schema):
    users = fields.List(fields.Nested(ListedUserSchema))


@complete()
class SearchResultSchema(Schema):
    id = fields.UUID()
    username = fields.String()
    displayName = fields.String(allow_none=True)
    firstName = fields.String(allow_none=True)
    lastName = fields.String(allow_none=True)
    profileImage = fields.String(allow_none=True)
    lastSeen = fields.String(allow_none=True)
    isBot = fields.Boolean()
    isGuest = fields.Boolean()
    friendship = fields.Nested(FriendshipRefSchema, allow_none=True)
    isFriend = fields.Boolean()


class SearchResultsSchema(Schema):
    users = fields.List(fields.Nested(SearchResultSchema))


class ProfileSchema(Schema):
    id = fields.UUID()
    username = fields.String()
    displayName = fields.String(allow_none=True)
    profileImage = fields.String(allow_none=True)
    coverImage = fields.String(allow_none=True)
    lastSeen = fields.String(allow_none=True)
    emailVerified = fields.Boolean()
    firstName = fields.String(
        allow_none=True, metadata={"description": "absent unless privacy allows"}
    )
    lastName = fields.String(
        allow_none=True, metadata={"description": "absent unless privacy allows"}
    )
    phoneNumber = fields.String(metadata={"description": "absent unless privacy allows"})
    email = fields.String(metadata={"description": "absent unless privacy allows"})
    gender = fields.String(metadata={"description": "absent unless privacy allows"})
    createdAt = fields.String(metadata={"description": "absent unless privacy allows"})


class ProfileResponseSchema(Schema):
    user = fields.Nested(ProfileSchema)
    blockedByThem = fields.Boolean(metadata={"description": "alone, when the user blocked you"})


class ImageDeletedSchema(Schema):
    message = fields.String()
