"""Schemas of ``/api/widget``, plus the other public pages' routes (contact, link preview)."""

from __future__ import annotations

from marshmallow import Schema, fields

from chatr_server.util.validation import required


class SupportAgentSchema(Schema):
    id = fields.UUID()
    displayName = fields.String()
    username = fields.String()
    profileImage = fields.String(allow_none=True)
    online = fields.Boolean()


class GuestSessionRequestSchema(Schema):
    guestName = fields.String(required=True, error_messages=required("guestName is required"))
    # Raw: a malformed guestId or resumeToken is no proof of ownership, so it starts a
    # new guest instead of being refused.
    guestId = fields.Raw(
        allow_none=True, metadata={"type": "string", "description": "resume this guest"}
    )
    resumeToken = fields.Raw(
        allow_none=True,
        metadata={
            "type": "string",
            "description": "the resumeToken issued with guestId; required to resume",
        },
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
    guestName = fields.String(
        required=True, error_messages=required("Name and message are required")
    )
    message = fields.String(required=True, error_messages=required("Name and message are required"))
    contactEmail = fields.String(allow_none=True)
    context = fields.Dict(allow_none=True)


_CONTACT_REQUIRED = required("Name, email, and message are required.")


class ContactRequestSchema(Schema):
    name = fields.String(required=True, error_messages=_CONTACT_REQUIRED)
    email = fields.String(required=True, error_messages=_CONTACT_REQUIRED)
    message = fields.String(required=True, error_messages=_CONTACT_REQUIRED)
    company = fields.String(allow_none=True)


class LinkPreviewQuerySchema(Schema):
    url = fields.String(
        required=True,
        error_messages=required("url query parameter is required"),
        metadata={"description": "an absolute http(s) URL on port 80 or 443"},
    )


class EmailPreviewQuerySchema(Schema):
    type = fields.String(metadata={"description": "verification (default) | login | reset"})
    code = fields.String(metadata={"description": "Code shown in the email (default 123456)"})
    email = fields.String(metadata={"description": "Recipient address (default user@example.com)"})
    username = fields.String(
        metadata={"description": "Username in the greeting (default @testuser)"}
    )
    userId = fields.String(
        metadata={"description": "User id in the verification link (default test123)"}
    )
    theme = fields.String(metadata={"description": "light (default) | dark page background"})
    simulateDark = fields.String(
        metadata={"description": "1 or true: invert the page like a dark-mode mail client"}
    )


class LinkPreviewSchema(Schema):
    url = fields.String()
    title = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    image = fields.String(allow_none=True)
    siteName = fields.String(allow_none=True)
    favicon = fields.String(allow_none=True)
