"""Payloads of the live message events (events.md §7.2), built from send results."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatr_server.presenters.messages import reply_to
from chatr_server.util.timefmt import iso_ms

Row = Mapping[str, Any]


def message_sent(row: Row, temp_id: str | None) -> dict[str, Any]:
    """``message:sent`` to the sending socket: file/audio keys always present."""
    payload: dict[str, Any] = {
        "id": str(row["id"]),
        "senderId": str(row["sender_id"]),
        "recipientId": str(row["recipient_id"]),
        "content": row["content"],
        "type": row["type"],
        "timestamp": iso_ms(row["created_at"]),
        "status": row["status"],
        "fileUrl": row["file_url"],
        "fileName": row["file_name"],
        "fileSize": row["file_size"],
        "fileType": row["file_type"],
        "waveform": row["audio_waveform"],
        "duration": row["audio_duration"],
        "conversationId": str(row["conversation_id"]) if row["conversation_id"] else None,
        "conversationStatus": row["conversation_status"],
    }
    reply = reply_to(row)
    if reply is not None:
        payload["replyTo"] = reply
    if row["link_preview"] is not None:
        payload["linkPreview"] = row["link_preview"]
    if temp_id is not None:
        payload["tempId"] = temp_id
    return payload


def message_received(row: Row, sender: Mapping[str, Any]) -> dict[str, Any]:
    """``message:received`` to the recipient: file/audio keys omitted when empty."""
    payload: dict[str, Any] = {
        "id": str(row["id"]),
        "senderId": str(row["sender_id"]),
        "recipientId": str(row["recipient_id"]),
        "senderUsername": sender["username"],
        "senderDisplayName": sender["displayName"],
        "senderProfileImage": sender["profileImage"],
        "senderIsGuest": sender["isGuest"],
        "content": row["content"],
        "type": row["type"],
        "timestamp": iso_ms(row["created_at"]),
        "status": row["status"],
        "conversationId": str(row["conversation_id"]) if row["conversation_id"] else None,
        "conversationStatus": row["conversation_status"],
    }
    for key, column in (
        ("fileUrl", "file_url"),
        ("fileName", "file_name"),
        ("fileSize", "file_size"),
        ("fileType", "file_type"),
        ("waveform", "audio_waveform"),
        ("duration", "audio_duration"),
    ):
        if row[column] is not None:
            payload[key] = row[column]
    reply = reply_to(row)
    if reply is not None:
        payload["replyTo"] = reply
    if row["link_preview"] is not None:
        payload["linkPreview"] = row["link_preview"]
    return payload
