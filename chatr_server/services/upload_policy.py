"""What an uploaded file may be, and how it is named: one policy for DM, group and widget uploads.

Uploads are never trusted by their declared type: the MIME type (without
parameters) must be on the route's allow-list *and* agree with the sniffed
bytes, else 415. Stored names are generated (``<base>-<epoch-ms>-<random><ext>``);
only the display name keeps what the client sent. The multipart reading
itself lives in :mod:`chatr_server.api.multipart`.
"""

from __future__ import annotations

import math
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from chatr_server.errors import ServiceError, bad_request
from chatr_server.integrations import media

MB = 1024 * 1024
MAX_CAPTION = 10_000
MAX_FILE_NAME = 255
MAX_DURATION_S = 24 * 3600.0

DM_MIME_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "audio/webm",
        "audio/mp4",
        "audio/mpeg",
        "audio/ogg",
        "audio/wav",
        "audio/x-m4a",
        "video/mp4",
        "video/quicktime",
        "video/webm",
        "application/pdf",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "text/plain",
        "application/zip",
    }
)
GROUP_MIME_TYPES = DM_MIME_TYPES | {
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
IMAGE_MIME_TYPES = frozenset({"image/jpeg", "image/jpg", "image/png", "image/webp"})

# Extensions a stored file may keep per type; anything else gets the first one.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "image/gif": (".gif",),
    "image/webp": (".webp",),
    "audio/webm": (".webm", ".weba"),
    "audio/mp4": (".m4a", ".mp4"),
    "audio/mpeg": (".mp3",),
    "audio/ogg": (".ogg", ".oga", ".opus"),
    "audio/wav": (".wav",),
    "audio/x-m4a": (".m4a",),
    "video/mp4": (".mp4", ".m4v"),
    "video/quicktime": (".mov",),
    "video/webm": (".webm",),
    "application/pdf": (".pdf",),
    "application/msword": (".doc",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (".docx",),
    "text/plain": (".txt", ".log", ".csv", ".md"),
    "application/zip": (".zip",),
}

# Legacy Office files are OLE2 compound documents, which the sniffer does not name.
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OLE2_TYPES = frozenset(
    {"application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint"}
)
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """One file part of a multipart form, read under its route's size cap.

    The client's name and type are only claims: see :func:`check_type`.
    """

    filename: str
    content_type: str
    data: bytes


# --- type -------------------------------------------------------------------------------


def content_matches(declared: str, data: bytes) -> bool:
    """Whether the bytes are what the client says they are."""
    if declared in _OLE2_TYPES:
        return data.startswith(_OLE2_MAGIC)
    return media.is_compatible(declared, media.sniff_mime(data))


def check_type(file: UploadedFile, allowed: frozenset[str], empty: str) -> str:
    """The file's base MIME type: 415 when not allowed or not what the bytes are.

    An empty file is a 400 with the route's text ``empty``.
    """
    mime = media.base_mime(file.content_type)
    if mime not in allowed:
        raise ServiceError(415, "File type not allowed")
    if not file.data:
        raise bad_request(empty)
    if not content_matches(mime, file.data):
        raise ServiceError(415, "File content does not match its type")
    return mime


# --- names ------------------------------------------------------------------------------


def display_name(filename: str | None) -> str:
    """The client's file name without folders or control characters (shown, never used)."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch >= " " and ch != "\x7f").strip()
    return name[:MAX_FILE_NAME] or "file"


def epoch_ms() -> int:
    return int(time.time() * 1000)


def stored_name(original: str, mime: str | None = None) -> str:
    """``<base>-<epoch-ms>-<random><ext>``: a sanitised base and a safe extension.

    With ``mime`` the extension is one that fits the type (the client's when
    it does); without, it is the client's own, reduced to letters and digits.
    """
    stem, dot, ext = original.rpartition(".")
    if not dot:
        stem, ext = original, ""
    base = _UNSAFE_NAME_CHARS.sub("_", stem).strip("_")[:80] or "file"
    if mime is None:
        ext = _NOT_ALNUM.sub("", ext)[:16]
        suffix = "." + ext if ext else ""
    else:
        allowed = EXTENSIONS.get(mime, (".bin",))
        suffix = "." + ext.lower()
        if suffix not in allowed:
            suffix = allowed[0]
    return f"{base}-{epoch_ms()}-{secrets.randbelow(1_000_000_000)}{suffix}"


#: The folders of message attachments (DM, group, widget): readable by participants
#: only (services/attachments.py); every other folder (profile and cover pictures) is public.
ATTACHMENT_FOLDERS = frozenset({"messages", "audio"})


def storage_folder(mime: str) -> str:
    """Where a message attachment is stored: voice notes apart from other files."""
    return "audio" if mime.startswith("audio/") else "messages"


# --- message fields ---------------------------------------------------------------------


def message_type(mime: str, requested: str | None) -> str:
    """The message type of an attachment; ``image`` only when the client asked for it."""
    if mime.startswith("audio/"):
        return "audio"
    if mime.startswith("video/"):
        return "video"
    if requested == "image" and mime.startswith("image/"):
        return "image"
    return "file"


def waveform_bars(value: Any, max_bars: int, *, clamp: bool = False) -> list[float] | None:
    """A list of at most ``max_bars`` finite numbers (clamped into 0..1 if asked), else ``None``."""
    if not isinstance(value, list) or len(value) > max_bars:
        return None
    bars: list[float] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
            return None
        bars.append(min(1.0, max(0.0, float(item))) if clamp else float(item))
    return bars


def duration_seconds(value: Any, *, allow_zero: bool = False) -> float | None:
    """A finite, plausible number of seconds (positive unless ``allow_zero``), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    if value < 0 or (value == 0 and not allow_zero) or value > MAX_DURATION_S:
        return None
    return float(value)


@dataclass(frozen=True, slots=True)
class FileMessage:
    """What a file message stores besides the file itself, from the form's text fields."""

    kind: str
    content: str
    waveform: list[float] | None
    duration: float | None
    needs_waveform: bool


def caption(fields: Mapping[str, str], label: str = "Caption") -> str:
    """The form's caption, trimmed; 400 (``<label> must be at most …``) when too long."""
    text = (fields.get("caption") or "").strip()
    if len(text) > MAX_CAPTION:
        raise bad_request(f"{label} must be at most {MAX_CAPTION} characters")
    return text


def file_message(
    mime: str,
    name: str,
    caption_text: str,
    fields: Mapping[str, str],
    parse_waveform: Callable[[Any], list[float] | None],
) -> FileMessage:
    """Type, content and audio metadata of an attachment message.

    A voice note without a usable waveform gets a placeholder and
    ``needs_waveform``; the duration is kept only when plausible.
    """
    kind = message_type(mime, fields.get("type"))
    if kind != "audio":
        return FileMessage(kind, caption_text or name, None, None, False)
    waveform = None
    raw = fields.get("waveform")
    if raw:
        try:
            waveform = parse_waveform(orjson.loads(raw)) or None
        except orjson.JSONDecodeError:
            waveform = None
    try:
        duration = duration_seconds(float(fields.get("duration") or "nan"))
    except ValueError:
        duration = None
    if waveform is None:
        return FileMessage(kind, "Voice message", media.placeholder_waveform(), duration, True)
    return FileMessage(kind, "Voice message", waveform, duration, False)


def upload_result(
    message_id: str, url: str, name: str, file: UploadedFile, mime: str, message: FileMessage
) -> dict[str, Any]:
    """The body of a successful DM or group attachment upload."""
    result: dict[str, Any] = {
        "success": True,
        "messageId": message_id,
        "fileUrl": url,
        "fileName": name,
        "fileSize": len(file.data),
        "fileType": mime,
    }
    if message.waveform is not None:
        result["waveform"] = message.waveform
    if message.duration is not None:
        result["duration"] = message.duration
    result["needsWaveformGeneration"] = message.needs_waveform
    return result
