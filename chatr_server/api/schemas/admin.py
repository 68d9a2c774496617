"""Schemas of ``/api/admin`` (the support inbox)."""

from __future__ import annotations

from marshmallow import Schema, fields


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


class WidgetContactListSchema(Schema):
    contacts = fields.List(
        fields.Nested(WidgetContactSchema), metadata={"description": "sent as a bare array"}
    )


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
    content = fields.String(required=True)


class ReplySchema(Schema):
    message = fields.Nested(InboxMessageSchema)
