"""The contract's group shapes (rest.md §0 and §7, events.md §7.2) from database rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chatr_server.util.timefmt import iso_ms

Row = Mapping[str, Any]


def user_name(display_name: str | None, username: str | None) -> str:
    """How system texts and invites name a user: displayName, else username without @."""
    if display_name:
        return display_name
    if username:
        return username.removeprefix("@") or "Someone"
    return "Someone"


def member_user(row: Row) -> dict[str, Any]:
    """MemberUser from a membership row joined with its user."""
    return {
        "id": str(row["user_id"]),
        "username": row["username"],
        "displayName": row["display_name"],
        "profileImage": row["profile_image"],
    }


def group_row(row: Row) -> dict[str, Any]:
    """GroupRow."""
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "description": row["description"],
        "profileImage": row["profile_image"],
        "coverImage": row["cover_image"],
        "ownerId": str(row["owner_id"]),
        "createdAt": iso_ms(row["created_at"]),
        "updatedAt": iso_ms(row["updated_at"]),
        "summary": row["summary"],
        "summaryMessageCount": row["summary_message_count"],
        "summaryGeneratedAt": iso_ms(row["summary_generated_at"]),
    }


def member_row(row: Row) -> dict[str, Any]:
    """GroupMemberRow."""
    return {
        "id": str(row["id"]),
        "userId": str(row["user_id"]),
        "groupId": str(row["group_id"]),
        "role": row["role"],
        "status": row["status"],
        "invitedBy": str(row["invited_by"]) if row["invited_by"] else None,
        "joinedAt": iso_ms(row["joined_at"]),
        "user": member_user(row),
    }


def group_with_members(group: Row, members: Iterable[Row]) -> dict[str, Any]:
    return {**group_row(group), "members": [member_row(m) for m in members]}


def joined_member(row: Row) -> dict[str, Any]:
    """The ``member`` object of ``group:memberJoined``."""
    return {
        "id": str(row["id"]),
        "userId": str(row["user_id"]),
        "role": row["role"],
        "user": member_user(row),
    }


def message_row(row: Row) -> dict[str, Any]:
    """GroupMessageRow (no sender); an unsent message loses its content and file fields."""
    unsent = row["deleted_at"] is not None
    body: dict[str, Any] = {
        "id": str(row["id"]),
        "groupId": str(row["group_id"]),
        "senderId": str(row["sender_id"]),
        "content": "" if unsent else row["content"],
        "type": row["type"],
        "fileUrl": None if unsent else row["file_url"],
        "fileName": None if unsent else row["file_name"],
        "fileSize": None if unsent else row["file_size"],
        "fileType": None if unsent else row["file_type"],
        "audioWaveform": None if unsent else row["audio_waveform"],
        "audioDuration": None if unsent else row["audio_duration"],
        "linkPreview": None if unsent else row["link_preview"],
        "deletedAt": iso_ms(row["deleted_at"]),
        "createdAt": iso_ms(row["created_at"]),
    }
    if unsent:
        body["unsent"] = True
    return body


def message_sender(row: Row) -> dict[str, Any]:
    """MemberUser of a message row joined with ``sender_*`` columns."""
    return {
        "id": str(row["sender_id"]),
        "username": row["sender_username"],
        "displayName": row["sender_display_name"],
        "profileImage": row["sender_profile_image"],
    }


def history_message(row: Row) -> dict[str, Any]:
    """A history entry: GroupMessageRow + ``sender`` (MemberUser)."""
    return {**message_row(row), "sender": message_sender(row)}


def last_message(row: Row) -> dict[str, Any]:
    """The groups list's last message: GroupMessageRow + ``sender {displayName, username}``."""
    return {
        **message_row(row),
        "sender": {"displayName": row["sender_display_name"], "username": row["sender_username"]},
    }


def brief_user(row: Row) -> dict[str, Any]:
    """MemberUser from a ``user_brief`` row (``id, username, display_name, profile_image``)."""
    return {
        "id": str(row["id"]),
        "username": row["username"],
        "displayName": row["display_name"],
        "profileImage": row["profile_image"],
    }


def live_message(row: Row, sender: dict[str, Any], temp_id: str | None = None) -> dict[str, Any]:
    """The ``group:message`` event: GroupMessageRow + sender (MemberUser) + waveform/duration."""
    body = {
        **message_row(row),
        "sender": sender,
        "waveform": row["audio_waveform"],
        "duration": row["audio_duration"],
    }
    if temp_id is not None:
        body["tempId"] = temp_id
    return body


def system_message(row: Row) -> dict[str, Any]:
    """The ``group:message`` event of a system message."""
    return {
        "id": str(row["id"]),
        "groupId": str(row["group_id"]),
        "senderId": str(row["sender_id"]),
        "content": row["content"],
        "type": "system",
        "createdAt": iso_ms(row["created_at"]),
        "sender": None,
    }


def invite(row: Row) -> dict[str, Any]:
    """One entry of ``GET /api/groups/invites``."""
    inviter = (
        user_name(row["inviter_display_name"], row["inviter_username"])
        if row["inviter_username"]
        else "Someone"
    )
    return {
        "groupId": str(row["group_id"]),
        "groupName": row["group_name"],
        "groupDescription": row["group_description"],
        "memberCount": int(row["member_count"]),
        "invitedBy": inviter,
        "invitedById": str(row["invited_by"]) if row["invited_by"] else None,
    }
