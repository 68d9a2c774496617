"""Payloads of the live message events (events.md §7.2), built from send results."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chatr_server.presenters.messages import reply_to
from chatr_server.util.timefmt import iso_ms

Row = Mapping[str, Any]


_FILE_KEYS = (
    ("fileUrl", "file_url"),
    ("fileName", "file_name"),
    ("fileSize", "file_size"),
    ("fileType", "file_type"),
    ("waveform", "audio_waveform"),
    ("duration", "audio_duration"),
)


def _shared(row: Row) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fields both events carry, and the optional tail (reply, preview).

    Computed once per send: both payloads of a message are built on the hot path.
    """
    conversation = row["conversation_id"]
    common = {
        "id": str(row["id"]),
        "senderId": str(row["sender_id"]),
        "recipientId": str(row["recipient_id"]),
        "content": row["content"],
        "type": row["type"],
        "timestamp": iso_ms(row["created_at"]),
        "status": row["status"],
        "conversationId": str(conversation) if conversation else None,
        "conversationStatus": row["conversation_status"],
    }
    tail: dict[str, Any] = {}
    reply = reply_to(row)
    if reply is not None:
        tail["replyTo"] = reply
    if row["link_preview"] is not None:
        tail["linkPreview"] = row["link_preview"]
    return common, tail


def live_payloads(
    row: Row, temp_id: str | None, sender: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``message:sent`` for the sending socket and, when ``sender`` is given,
    ``message:received`` for the recipient.

    ``message:sent`` always has the file/audio keys; ``message:received`` omits
    the empty ones and carries the sender's card instead of the temp id.
    """
    common, tail = _shared(row)
    received = None
    if sender is not None:
        received = {
            **common,
            "senderUsername": sender["username"],
            "senderDisplayName": sender["displayName"],
            "senderProfileImage": sender["profileImage"],
            "senderIsGuest": sender["isGuest"],
        }
        for key, column in _FILE_KEYS:
            value = row[column]
            if value is not None:
                received[key] = value
        received.update(tail)
    sent = common  # not shared any more: extended in place
    for key, column in _FILE_KEYS:
        sent[key] = row[column]
    sent.update(tail)
    if temp_id is not None:
        sent["tempId"] = temp_id
    return sent, received
