"""Contract shapes for direct messages (rest.md §0): DMMessage and ConversationEntry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chatr_server.util.timefmt import iso_ms

Row = Mapping[str, Any]


def reaction(row: Row) -> dict[str, Any]:
    return {"userId": str(row["user_id"]), "username": row["username"], "emoji": row["emoji"]}


def reply_to(row: Row) -> dict[str, Any] | None:
    """The ``replyTo`` object from a message's stored reply snapshot (None for no reply)."""
    if row["reply_to_id"] is None:
        return None
    name = row["reply_to_sender_name"]
    duration = row["reply_to_duration"]
    return {
        "id": str(row["reply_to_id"]),
        "content": row["reply_to_content"] or "",
        # The one stored name feeds both fields, as in the original.
        "senderDisplayName": name or None,
        "senderUsername": name or "",
        "type": row["reply_to_type"] or "text",
        "duration": duration if duration else None,
    }


def dm_message(row: Row, reactions: Sequence[Row] = ()) -> dict[str, Any]:
    """DMMessage (history format); an unsent message keeps only its skeleton and reactions."""
    unsent = row["deleted_at"] is not None
    edited = bool(row["edited"]) and not unsent
    message: dict[str, Any] = {
        "id": str(row["id"]),
        "senderId": str(row["sender_id"]),
        "recipientId": str(row["recipient_id"]),
        "senderUsername": row["sender_username"],
        "senderDisplayName": row["sender_display_name"],
        "senderProfileImage": row["sender_profile_image"],
        "content": "" if unsent else row["content"],
        "unsent": unsent,
        "edited": edited,
        "editedAt": iso_ms(row["edited_at"]) if edited else None,
        "type": "text" if unsent else row["type"],
        "status": row["status"],
        "isRead": row["is_read"],
        "readAt": iso_ms(row["read_at"]),
        "createdAt": iso_ms(row["created_at"]),
        "fileUrl": None if unsent else row["file_url"],
        "fileName": None if unsent else row["file_name"],
        "fileSize": None if unsent else row["file_size"],
        "fileType": None if unsent else row["file_type"],
        "waveform": None if unsent else row["audio_waveform"],
        "duration": None if unsent else row["audio_duration"],
        "reactions": [reaction(r) for r in reactions],
        "linkPreview": None if unsent else row["link_preview"],
    }
    if row["reply_to_id"] is not None:
        message["replyTo"] = reply_to(row)
    return message


def conversation_entry(
    row: Row, user_id: str, *, show_full_name: bool, show_last_seen: bool
) -> dict[str, Any]:
    """ConversationEntry: the partner, the newest visible message and the pair's state."""
    last_message = {
        "id": str(row["last_id"]),
        "content": row["last_content"],
        "type": row["last_type"],
        "createdAt": iso_ms(row["last_created_at"]),
        "senderId": str(row["last_sender_id"]),
        "isRead": row["last_is_read"],
        "fileType": row["last_file_type"],
    }
    conversation_id = row["conversation_id"]
    return {
        "id": str(row["id"]),
        "username": row["username"],
        "displayName": row["display_name"],
        "firstName": row["first_name"] if show_full_name else None,
        "lastName": row["last_name"] if show_full_name else None,
        "profileImage": row["profile_image"],
        "lastSeen": iso_ms(row["last_seen"]) if show_last_seen else None,
        "isBot": row["is_bot"],
        "isGuest": row["is_guest"],
        "lastMessage": last_message,
        "unreadCount": row["unread"],
        "lastMessageAt": last_message["createdAt"],
        "conversationId": str(conversation_id) if conversation_id else None,
        "conversationStatus": row["conversation_status"],
        "isInitiator": row["initiator_id"] is not None and str(row["initiator_id"]) == user_id,
        "isFriend": row["is_friend"],
        "friendshipId": str(row["friendship_id"]) if row["friendship_id"] else None,
        "isBlocked": row["is_blocked"],
        "blockedByMe": row["blocked_by_me"],
        "summary": None,
    }
