"""Payload schemas of the server-to-client socket events (events.md §7).

The registry the tests check every emitted event against (the RecordingBus
and the test socket client), as they check every REST response against the
route's declared schema. A payload may carry only the keys declared here;
keys the contract always sends are ``required``. Events with several shapes
(``message:received`` from a DM, a widget upload or an admin reply) declare
the union of their keys.
"""

from __future__ import annotations

from marshmallow import Schema, fields

from chatr_server.api.schemas.groups import GroupMessageSchema, GroupSchema, MemberUserSchema
from chatr_server.api.schemas.messages import ReactionSchema, ReplyToSchema

S = fields.String
U = fields.UUID
B = fields.Boolean
N = fields.Float
I = fields.Integer  # noqa: E741 - one letter like its neighbours


def _schema(name: str, **declared: fields.Field) -> type[Schema]:
    return Schema.from_dict(declared, name=name)


def _req(field: type[fields.Field], **kwargs: object) -> fields.Field:
    return field(required=True, **kwargs)  # type: ignore[arg-type]


def _opt(field: type[fields.Field]) -> fields.Field:
    return field(allow_none=True)


_SENDER_CARD = _schema("SenderCard", displayName=_opt(S), isGuest=B(), isSupport=B())
_CALL_USER = _schema("CallUser", id=U(), username=S(), displayName=_opt(S), profileImage=_opt(S))
_ONLINE = _schema("OnlineUser", userId=_req(U), status=_req(S))
# userId is echoed as the client asked for it, whatever it was.
_PRESENCE = _schema("Presence", userId=fields.Raw(), status=S(), lastSeen=_opt(S), hidden=B())
_JOINED_MEMBER = _schema(
    "JoinedMember", id=U(), userId=U(), role=S(), user=fields.Nested(MemberUserSchema)
)
_FILE = {
    "fileUrl": _opt(S),
    "fileName": _opt(S),
    "fileSize": _opt(I),
    "fileType": _opt(S),
    "waveform": fields.List(N(), allow_none=True),
    "duration": _opt(N),
}
_DM = {
    "id": _req(U),
    "senderId": _req(U),
    "recipientId": _req(U),
    "content": _req(S),
    "type": _req(S),
    "timestamp": S(),
    "status": S(),
    "conversationId": _opt(U),
    "conversationStatus": _opt(S),
    "replyTo": fields.Nested(ReplyToSchema),
    "linkPreview": fields.Dict(allow_none=True),
    **_FILE,
}


class GroupEventMessageSchema(GroupMessageSchema):
    sender = fields.Nested(MemberUserSchema, allow_none=True)
    tempId = S()
    waveform = fields.List(N(), allow_none=True)
    duration = _opt(N)


class GroupUpdatedSchema(GroupSchema):
    """The full group (PATCH), or only ``id`` and the changed image (image routes)."""


_GROUP_ID_USER = {"groupId": _req(U), "userId": _req(U)}
_SIGNAL = {"callId": _req(U), "fromUserId": _req(U)}

EVENTS: dict[str, type[Schema]] = {
    "socket:ready": _schema("SocketReady", userId=U()),
    "presence:update": _schema(
        "PresenceUpdate", status=_req(S), onlineUsers=fields.List(fields.Nested(_ONLINE))
    ),
    "user:status": _schema(
        "UserStatus",
        userId=_req(U),
        username=S(),
        status=_req(S),
        timestamp=S(),
        lastSeen=_opt(S),
        hidden=B(),
    ),
    "presence:response": _PRESENCE,  # sent as a bare array of these
    "message:received": _schema(
        "MessageReceived",
        **_DM,
        senderUsername=S(),
        senderDisplayName=_opt(S),
        senderProfileImage=_opt(S),
        senderIsGuest=B(),
        createdAt=S(),
        sender=fields.Nested(_SENDER_CARD),
    ),
    "message:sent": _schema("MessageSent", **_DM, tempId=S()),
    "message:blocked": _schema("MessageBlocked", recipientId=_req(S), tempId=S(), reason=_req(S)),
    "message:status": _schema(
        "MessageStatus", messageId=_req(U), status=_req(S), timestamp=_req(S)
    ),
    "message:reaction": _schema(
        "MessageReaction",
        messageId=_req(U),
        reactions=fields.List(fields.Nested(ReactionSchema), required=True),
    ),
    "message:unsent": _schema("MessageUnsent", messageId=_req(U), senderDisplayName=_opt(S)),
    "message:edited": _schema(
        "MessageEdited", messageId=_req(U), content=_req(S), editedAt=_req(S)
    ),
    "typing:status": _schema(
        "TypingStatus", userId=_req(U), username=S(), groupId=U(), isTyping=_req(B), type=S()
    ),
    "audio:recording": _schema("AudioRecording", userId=_req(U), username=S(), isRecording=_req(B)),
    "audio:listening": _schema(
        "AudioListening",
        userId=_req(U),
        username=S(),
        messageId=_req(U),
        isListening=B(),
        isEnded=B(),
    ),
    "audio:waveform": _schema(
        "AudioWaveform",
        messageId=_req(U),
        groupId=U(),
        waveform=fields.List(N(), required=True),
        duration=_opt(N),
    ),
    "ghost:typing": _schema("GhostTyping", userId=_req(U), username=S(), text=S(), type=S()),
    "conversation:accepted": _schema(
        "ConversationAccepted", conversationId=_req(U), acceptedBy=_req(U)
    ),
    "conversation:declined": _schema(
        "ConversationDeclined",
        conversationId=U(required=True, allow_none=True),
        declinedBy=_req(U),
        otherUserId=U(),
    ),
    "user:profileUpdate": _schema(
        "ProfileUpdate",
        userId=_req(U),
        displayName=_opt(S),
        firstName=_opt(S),
        lastName=_opt(S),
        profileImage=_opt(S),
        coverImage=_opt(S),
    ),
    "friend:update": _schema(
        "FriendUpdate",
        type=_req(S),
        friendshipId=_opt(U),
        **{"from": fields.Nested(_CALL_USER)},
    ),
    "error": _schema("ErrorEvent", message=_req(S)),
    "group:message": GroupEventMessageSchema,
    "group:message:unsent": _schema(
        "GroupMessageUnsent", messageId=_req(U), groupId=_req(U), senderDisplayName=_opt(S)
    ),
    "group:typing": _schema(
        "GroupTyping", **_GROUP_ID_USER, displayName=_opt(S), username=S(), isTyping=_req(B)
    ),
    "group:created": _schema("GroupCreated", group=fields.Nested(GroupSchema, required=True)),
    "group:invite": _schema(
        "GroupInvite",
        groupId=_req(U),
        groupName=S(),
        groupDescription=_opt(S),
        memberCount=I(),
        invitedBy=S(),
        invitedById=_opt(U),
    ),
    "group:inviteAccepted": _schema(
        "GroupInviteAccepted", groupId=_req(U), groupName=S(), acceptedBy=_req(S)
    ),
    "group:inviteDeclined": _schema(
        "GroupInviteDeclined", groupId=_req(U), groupName=S(), declinedBy=_req(S)
    ),
    "group:memberJoined": _schema(
        "GroupMemberJoined",
        **_GROUP_ID_USER,
        member=fields.Nested(_JOINED_MEMBER, allow_none=True),
    ),
    "group:memberLeft": _schema("GroupMemberLeft", groupId=_req(U), memberId=_req(U)),
    "group:removed": _schema("GroupRemoved", groupId=_req(U)),
    "group:updated": _schema(
        "GroupUpdated", group=fields.Nested(GroupUpdatedSchema, required=True)
    ),
    "group:deleted": _schema("GroupDeleted", groupId=_req(U), groupName=S()),
    "group:ownerChanged": _schema("GroupOwnerChanged", groupId=_req(U), newOwnerId=_req(U)),
    "group:memberPromoted": _schema(
        "GroupMemberPromoted", groupId=_req(U), memberId=_req(U), promotedBy=_req(U)
    ),
    "group:memberDemoted": _schema(
        "GroupMemberDemoted", groupId=_req(U), memberId=_req(U), demotedBy=_req(U)
    ),
    "group:ownershipTransferred": _schema(
        "GroupOwnershipTransferred", groupId=_req(U), newOwnerId=_req(U)
    ),
    "group:ownerSteppedDown": _schema("GroupOwnerSteppedDown", **_GROUP_ID_USER),
    "group:user:joined": _schema("GroupUserJoined", **_GROUP_ID_USER, username=S(), timestamp=S()),
    "group:user:left": _schema("GroupUserLeft", **_GROUP_ID_USER, username=S(), timestamp=S()),
    "group:message:received": _schema(
        "GroupMessageReceived",
        id=_req(U),
        groupId=_req(U),
        senderId=_req(U),
        senderUsername=S(),
        content=S(),
        type=S(),
        timestamp=S(),
        linkPreview=fields.Dict(allow_none=True),
    ),
    "call:incoming": _schema(
        "CallIncoming", callId=_req(U), caller=fields.Nested(_CALL_USER, required=True)
    ),
    "call:accepted": _schema("CallAccepted", callId=_req(U)),
    "call:ended": _schema("CallEnded", callId=_req(U), reason=S(), duration=_opt(N)),
    # WebRTC signals relayed as the peer sent them.
    "call:offer": _schema("CallOffer", **_SIGNAL, sdp=fields.Raw(required=True)),
    "call:answer": _schema("CallAnswer", **_SIGNAL, sdp=fields.Raw(required=True)),
    "call:ice-candidate": _schema("CallIce", **_SIGNAL, candidate=fields.Raw(required=True)),
    "widget:offline-message": _schema(
        "WidgetOfflineMessage",
        guestId=_req(U),
        guestName=S(),
        contactEmail=_opt(S),
        message=S(),
    ),
    "guest:left": _schema("GuestLeft", guestId=_req(U), guestName=_opt(S), message=S()),
}

#: events sent as a bare array of their schema's objects.
ARRAYS = frozenset({"presence:response"})
#: events that may also be sent as a bare text (``error``, events.md §6).
TEXTS = frozenset({"error"})
