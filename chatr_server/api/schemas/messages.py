"""Request and response schemas of ``/api/messages`` and the conversation list."""

from __future__ import annotations

from marshmallow import Schema, fields

from chatr_server.api.schemas.common import Waveform, complete


class HistoryQuerySchema(Schema):
    limit = fields.String(metadata={"description": "page size, default 50, clamped to 1..100"})
    before = fields.String(metadata={"description": "id of the oldest message already shown"})


class DownloadQuerySchema(Schema):
    token = fields.String(
        metadata={"description": "signed link from /api/messages/download/{messageId}/link"}
    )


class ReactionSchema(Schema):
    userId = fields.UUID()
    username = fields.String()
    emoji = fields.String()


class ReplyToSchema(Schema):
    id = fields.String()
    content = fields.String()
    senderDisplayName = fields.String(allow_none=True)
    senderUsername = fields.String()
    type = fields.String()
    duration = fields.Float(allow_none=True)


@complete("replyTo")
class DMMessageSchema(Schema):
    id = fields.UUID()
    senderId = fields.UUID()
    recipientId = fields.UUID()
    senderUsername = fields.String()
    senderDisplayName = fields.String(allow_none=True)
    senderProfileImage = fields.String(allow_none=True)
    content = fields.String()
    unsent = fields.Boolean()
    edited = fields.Boolean()
    editedAt = fields.String(allow_none=True)
    type = fields.String()
    status = fields.String()
    isRead = fields.Boolean()
    readAt = fields.String(allow_none=True)
    createdAt = fields.String()
    fileUrl = fields.String(allow_none=True)
    fileName = fields.String(allow_none=True)
    fileSize = fields.Integer(allow_none=True)
    fileType = fields.String(allow_none=True)
    waveform = fields.List(fields.Float(), allow_none=True)
    duration = fields.Float(allow_none=True)
    reactions = fields.List(fields.Nested(ReactionSchema))
    replyTo = fields.Nested(ReplyToSchema, metadata={"description": "only on replies"})
    linkPreview = fields.Dict(allow_none=True)


class HistorySchema(Schema):
    messages = fields.List(fields.Nested(DMMessageSchema))
    hasMore = fields.Boolean()


class LastMessageSchema(Schema):
    id = fields.UUID()
    content = fields.String()
    type = fields.String()
    createdAt = fields.String()
    senderId = fields.UUID()
    isRead = fields.Boolean()
    fileType = fields.String(allow_none=True)


@complete()
class ConversationEntrySchema(Schema):
    id = fields.UUID()
    username = fields.String()
    displayName = fields.String(allow_none=True)
    firstName = fields.String(allow_none=True)
    lastName = fields.String(allow_none=True)
    profileImage = fields.String(allow_none=True)
    lastSeen = fields.String(allow_none=True)
    isBot = fields.Boolean()
    isGuest = fields.Boolean()
    lastMessage = fields.Nested(LastMessageSchema, allow_none=True)
    unreadCount = fields.Integer()
    lastMessageAt = fields.String(allow_none=True)
    conversationId = fields.UUID(allow_none=True)
    conversationStatus = fields.String(allow_none=True)
    isInitiator = fields.Boolean()
    isFriend = fields.Boolean()
    friendshipId = fields.UUID(allow_none=True)
    isBlocked = fields.Boolean()
    blockedByMe = fields.Boolean()
    summary = fields.String(allow_none=True)


class ConversationListSchema(Schema):
    conversations = fields.List(fields.Nested(ConversationEntrySchema))


class WaveformSchema(Schema):
    waveform = Waveform()
    duration = fields.Float(allow_none=True)


@complete("waveform", "duration")
class UploadResultSchema(Schema):
    success = fields.Boolean()
    messageId = fields.UUID()
    fileUrl = fields.String()
    fileName = fields.String()
    fileSize = fields.Integer()
    fileType = fields.String()
    waveform = fields.List(fields.Float(), metadata={"description": "audio only"})
    duration = fields.Float(metadata={"description": "when known"})
    needsWaveformGeneration = fields.Boolean()


class DownloadLinkSchema(Schema):
    url = fields.String(metadata={"description": "relative URL with a signed ?token="})
    expiresAt = fields.String()
