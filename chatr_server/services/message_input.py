"""Validation of client event payloads: fast, explicit, and never trusting types.

A wrong shape raises :class:`InvalidPayload` with the contract's message; the
handler turns it into an ``error`` event or an ack error. Nothing is stored
for a payload that fails here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from chatr_server.services.upload_policy import MAX_DURATION_S, waveform_bars
from chatr_server.util.ids import parse_uuid, uuid_text

MAX_CONTENT_CHARS = 20_000
MAX_TEMP_ID_CHARS = 64
MAX_FILE_NAME_CHARS = 255
MAX_URL_CHARS = 2048
MAX_WAVEFORM_BARS = 1000
MAX_PREVIEW_FIELD_CHARS = 2048
DM_TYPES = frozenset(("text", "image", "video", "file", "audio"))
PREVIEW_FIELDS = ("url", "title", "description", "image", "siteName", "favicon")


class InvalidPayload(Exception):
    def __init__(self, message: str = "Invalid payload") -> None:
        super().__init__(message)
        self.message = message


def opt_str(data: dict[str, Any], key: str, limit: int) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidPayload()
    return value


def opt_number(data: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidPayload()
    if not low <= value <= high:
        raise InvalidPayload()
    return float(value)


def opt_uuid(data: dict[str, Any], key: str) -> UUID | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    parsed = parse_uuid(value)
    if parsed is None:
        raise InvalidPayload()
    return parsed


def waveform(data: dict[str, Any]) -> list[float] | None:
    value = data.get("waveform")
    if value is None:
        return None
    bars = waveform_bars(value, MAX_WAVEFORM_BARS, clamp=True)
    if bars is None:
        raise InvalidPayload()
    return bars


def link_preview(data: dict[str, Any]) -> dict[str, Any] | None:
    value = data.get("linkPreview")
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("url"), str):
        raise InvalidPayload()
    preview: dict[str, Any] = {}
    for key in PREVIEW_FIELDS:
        field = value.get(key)
        if field is not None and (
            not isinstance(field, str) or len(field) > MAX_PREVIEW_FIELD_CHARS
        ):
            raise InvalidPayload()
        preview[key] = field
    return preview


@dataclass(slots=True, frozen=True)
class FileFields:
    url: str | None
    name: str | None
    size: int | None
    mime: str | None
    waveform: list[float] | None
    duration: float | None

    def as_args(self) -> tuple[Any, ...]:
        """The file arguments of ``chatr_send_dm`` / ``chatr_send_group``, in order."""
        return (self.url, self.name, self.size, self.mime, self.waveform, self.duration)


NO_FILES = FileFields(None, None, None, None, None, None)

# Keys a plain text message does not carry; without any of them the optional
# parsers are skipped (the common case on the hot path).
_OPTIONAL_SEND_KEYS = frozenset(
    (
        "fileUrl",
        "fileName",
        "fileSize",
        "fileType",
        "waveform",
        "duration",
        "linkPreview",
        "messageId",
        "replyTo",
    )
)


def file_fields(data: dict[str, Any]) -> FileFields:
    size = opt_number(data, "fileSize", 0, 10**12)
    return FileFields(
        url=opt_str(data, "fileUrl", MAX_URL_CHARS),
        name=opt_str(data, "fileName", MAX_FILE_NAME_CHARS),
        size=int(size) if size is not None else None,
        mime=opt_str(data, "fileType", 255),
        waveform=waveform(data),
        duration=opt_number(data, "duration", 0, MAX_DURATION_S),
    )


@dataclass(slots=True)
class DirectSend:
    recipient_id: str  # canonical text: only ever used as text
    content: str
    type: str
    files: FileFields
    message_id: UUID | None
    temp_id: str | None
    link_preview: dict[str, Any] | None
    reply_to_id: UUID | None


def parse_direct_send(data: Any) -> DirectSend:
    """``message:send`` (events.md §6.1), checks in the contract's order."""
    if not isinstance(data, dict):
        raise InvalidPayload()
    content = data.get("content")
    if content is not None and not isinstance(content, str):
        raise InvalidPayload()
    if not content or not content.strip():
        raise InvalidPayload("Message content is required")
    if len(content) > MAX_CONTENT_CHARS:
        raise InvalidPayload(f"Message content must be at most {MAX_CONTENT_CHARS} characters")
    recipient = data.get("recipientId")
    if not recipient:
        raise InvalidPayload("Recipient ID is required")
    recipient = uuid_text(recipient)
    if recipient is None:
        raise InvalidPayload()
    kind = data.get("type") or "text"
    if kind not in DM_TYPES:
        raise InvalidPayload()
    if data.keys().isdisjoint(_OPTIONAL_SEND_KEYS):  # a plain text message
        files, message_id, preview, reply_id = NO_FILES, None, None, None
    else:
        reply = data.get("replyTo")
        reply_id = None
        if reply is not None:
            if not isinstance(reply, dict):
                raise InvalidPayload()
            reply_id = opt_uuid(reply, "id")
        files = file_fields(data)
        message_id = opt_uuid(data, "messageId")
        preview = link_preview(data)
    return DirectSend(
        recipient_id=recipient,
        content=content,
        type=kind,
        files=files,
        message_id=message_id,
        temp_id=opt_str(data, "tempId", MAX_TEMP_ID_CHARS),
        link_preview=preview,
        reply_to_id=reply_id,
    )


@dataclass(slots=True)
class GroupSend:
    group_id: UUID
    content: str
    type: str
    files: FileFields
    message_id: UUID | None
    temp_id: str | None
    link_preview: dict[str, Any] | None


def parse_group_send(data: Any) -> GroupSend | None:
    """``group:message``; ``None`` for the cases the contract ignores silently."""
    if not isinstance(data, dict):
        raise InvalidPayload()
    content = data.get("content")
    if content is not None and not isinstance(content, str):
        raise InvalidPayload()
    if not data.get("groupId") or not content or not content.strip():
        return None
    if len(content) > MAX_CONTENT_CHARS:
        raise InvalidPayload(f"Message content must be at most {MAX_CONTENT_CHARS} characters")
    group_id = opt_uuid(data, "groupId")
    assert group_id is not None
    kind = data.get("type") or "text"
    if kind not in DM_TYPES:
        raise InvalidPayload()
    return GroupSend(
        group_id=group_id,
        content=content.strip(),
        type=kind,
        files=file_fields(data),
        message_id=opt_uuid(data, "messageId"),
        temp_id=opt_str(data, "tempId", MAX_TEMP_ID_CHARS),
        link_preview=link_preview(data),
    )


def bare_id(data: Any, key: str = "messageId") -> UUID:
    """A bare string id, or (the widget's form) an object carrying it under ``key``."""
    if isinstance(data, dict):
        data = data.get(key)
    parsed = parse_uuid(data)
    if parsed is None:
        raise InvalidPayload()
    return parsed
