"""Schemas of ``/api/admin`` (the support inbox)."""

from __future__ import annotations

from marshmallow import Schema, fields

from chatr_server.util.validation import required


class FirstMessageSchema(Schema):
    content = fields.String()
    createdAt = fields.String()


class WidgetContactSchema(Schema):
    id = fields.UUID()
    name = fields.String(allow_none=True)
    contactEmail = fields.String(allow_none=True)
    createdAt = fields.String()
    hasConversation = fields.Boolean()
    totalMessages = fields.Integer()
    firstMessage = fields.Nested(FirstMessageSchema, allow_none=True)


class SenderCardSchema(Schema):
    displayName = fields.String(allow_none=True)
    isGuest = fields.Boolean()
    isSupport = fields.Boolean()


class InboxMessageSchema(Schema):
    id = fields.UUID()
    content = fields.String()
    type = fields.String()
    senderId = fields.UUID()
    recipientId = fields.UUID()
    createdAt = fields.String()
    sender = fields.Nested(SenderCardSchema)


class InboxGuestSchema(Schema):
    id = fields.UUID()
    displayName = fields.String(allow_none=True)
    contactEmail = fields.String(allow_none=True)
    widgetContext = fields.Dict(allow_none=True)


class GuestConversationSchema(Schema):
    guest = fields.Nested(InboxGuestSchema)
    messages = fields.List(fields.Nested(InboxMessageSchema))


class ReplyRequestSchema(Schema):
    content = fields.String(required=True, error_messages=required("Message content is required"))


class ReplySchema(Schema):
    message = fields.Nested(InboxMessageSchema)
