"""Schemas of ``/api/widget``, plus the other public pages' routes (contact, link preview).

They document the API; the services validate the bodies themselves so the
contract's exact error texts are kept.
"""

from __future__ import annotations

from marshmallow import Schema, fields


class SupportAgentSchema(Schema):
    id = fields.UUID()
    displayName = fields.String()
    username = fields.String()
    profileImage = fields.String(allow_none=True)
    online = fields.Boolean()


class GuestSessionRequestSchema(Schema):
    guestName = fields.String(required=True)
    guestId = fields.String(allow_none=True, metadata={"description": "resume this guest"})
    resumeToken = fields.String(
        allow_none=True,
        metadata={"description": "the resumeToken issued with guestId; required to resume"},
    )
    contactEmail = fields.String(allow_none=True)
    context = fields.Dict(
        allow_none=True, metadata={"description": "visitor page facts, ≤ 8 KB, ≤ 32 keys"}
    )


class GuestSessionSchema(Schema):
    token = fields.String()
    guestId = fields.UUID()
    guestName = fields.String()
    supportAgentId = fields.UUID()
    resumeToken = fields.String()


class WidgetMessageSchema(Schema):
    id = fields.UUID()
    senderId = fields.UUID()
    recipientId = fields.UUID()
    content = fields.String()
    type = fields.String()
    fileUrl = fields.String(allow_none=True)
    fileName = fields.String(allow_none=True)
    fileSize = fields.Integer(allow_none=True)
    fileType = fields.String(allow_none=True)
    createdAt = fields.String()


class WidgetHistoryMessageSchema(WidgetMessageSchema):
    audioWaveform = fields.List(fields.Float(), allow_none=True)
    audioDuration = fields.Float(allow_none=True)


class WidgetHistorySchema(Schema):
    messages = fields.List(fields.Nested(WidgetHistoryMessageSchema))


class WidgetUploadSchema(Schema):
    message = fields.Nested(WidgetMessageSchema)


class OfflineMessageRequestSchema(Schema):
    guestName = fields.String(required=True)
    message = fields.String(required=True)
    contactEmail = fields.String(allow_none=True)
    context = fields.Dict(allow_none=True)


class ContactRequestSchema(Schema):
    name = fields.String(required=True)
    email = fields.String(required=True)
    message = fields.String(required=True)
    company = fields.String(allow_none=True)


class LinkPreviewSchema(Schema):
    url = fields.String()
    title = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    image = fields.String(allow_none=True)
    siteName = fields.String(allow_none=True)
    favicon = fields.String(allow_none=True)
