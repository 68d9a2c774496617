"""Request and response schemas of ``/api/groups``.

The create and update bodies, shared with the socket RPC events, are in
:mod:`chatr_server.schemas.groups`. Member ids stay strings: an id that is no
user is the service's 404, not a malformed request.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from chatr_server.api.schemas.common import Waveform
from chatr_server.services.groups import MAX_WAVEFORM_BARS
from chatr_server.util.validation import Trimmed, required


class GroupHistoryQuerySchema(Schema):
    limit = fields.String(metadata={"description": "1..100, default 50"})
    before = fields.String(metadata={"description": "ISO timestamp (exclusive)"})


def _member_id(key: str) -> Trimmed:
    text = f"{key} is required"
    return Trimmed(
        required=True, blank=text, error_messages=required(text, f"{key} must be a string")
    )


class AddMemberSchema(Schema):
    memberId = _member_id("memberId")


class TransferOwnershipSchema(Schema):
    newOwnerId = _member_id("newOwnerId")


class GroupWaveformSchema(Schema):
    waveform = Waveform(MAX_WAVEFORM_BARS)
    duration = fields.Float(allow_none=True)


class MemberUserSchema(Schema):
    id = fields.UUID()
    username = fields.String()
    displayName = fields.String(allow_none=True)
    profileImage = fields.String(allow_none=True)


class GroupMemberSchema(Schema):
    id = fields.UUID()
    userId = fields.UUID()
    groupId = fields.UUID()
    role = fields.String(metadata={"enum": ["owner", "admin", "member"]})
    status = fields.String(metadata={"enum": ["pending", "accepted"]})
    invitedBy = fields.UUID(allow_none=True)
    joinedAt = fields.String()
    user = fields.Nested(MemberUserSchema)


class GroupMessageSchema(Schema):
    id = fields.UUID()
    groupId = fields.UUID()
    senderId = fields.UUID()
    content = fields.String()
    type = fields.String()
    fileUrl = fields.String(allow_none=True)
    fileName = fields.String(allow_none=True)
    fileSize = fields.Integer(allow_none=True)
    fileType = fields.String(allow_none=True)
    audioWaveform = fields.List(fields.Float(), allow_none=True)
    audioDuration = fields.Float(allow_none=True)
    linkPreview = fields.Dict(allow_none=True)
    deletedAt = fields.String(allow_none=True)
    createdAt = fields.String()
    unsent = fields.Boolean(metadata={"description": "Present (true) only on unsent messages"})
    sender = fields.Nested(MemberUserSchema)


class GroupSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    description = fields.String(allow_none=True)
    profileImage = fields.String(allow_none=True)
    coverImage = fields.String(allow_none=True)
    ownerId = fields.UUID()
    createdAt = fields.String()
    updatedAt = fields.String()
    summary = fields.String(allow_none=True)
    summaryMessageCount = fields.Integer(allow_none=True)
    summaryGeneratedAt = fields.String(allow_none=True)
    members = fields.List(fields.Nested(GroupMemberSchema))


class GroupListItemSchema(GroupSchema):
    messages = fields.List(fields.Nested(GroupMessageSchema))
    lastMessage = fields.Nested(GroupMessageSchema, allow_none=True)


class GroupEnvelopeSchema(Schema):
    group = fields.Nested(GroupSchema)


class GroupDetailSchema(Schema):
    group = fields.Nested(GroupSchema)
    memberStatus = fields.String(metadata={"enum": ["pending", "accepted"]})


class GroupListSchema(Schema):
    groups = fields.List(fields.Nested(GroupListItemSchema))


class GroupInviteSchema(Schema):
    groupId = fields.UUID()
    groupName = fields.String()
    groupDescription = fields.String(allow_none=True)
    memberCount = fields.Integer()
    invitedBy = fields.String()
    invitedById = fields.UUID(allow_none=True)


class GroupInvitesSchema(Schema):
    invites = fields.List(fields.Nested(GroupInviteSchema))


class GroupMessagesSchema(Schema):
    messages = fields.List(fields.Nested(GroupMessageSchema))


class LeaveResultSchema(Schema):
    success = fields.Boolean()
    deleted = fields.Boolean()
