"""Group file uploads and group images (rest.md §7 upload, profile-image, cover-image).

The HTTP layer streams the multipart body with a size cap and hands over the
bytes; here the declared type is checked against an allow-list (parameters
stripped) *and* against the sniffed content, the file is stored, and the
message or image column is written. Storage keys never contain client text
other than a sanitised base name.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from chatr_server.errors import ServiceError, bad_request, forbidden, not_found
from chatr_server.integrations import media
from chatr_server.integrations.storage import Storage
from chatr_server.presenters import groups as present
from chatr_server.services.groups import (
    MAX_DURATION_S,
    Emits,
    GroupService,
    group_uuid,
    image_variant_urls,
    parse_waveform,
)

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_CAPTION = 10_000
MAX_FILE_NAME = 255

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

# Legacy Office files are OLE2 compound documents, which the sniffer does not name.
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OLE2_TYPES = frozenset(
    {"application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint"}
)

_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(slots=True)
class UploadedFile:
    """One file part of a multipart body, fully read (within its cap)."""

    filename: str
    content_type: str
    data: bytes
    fields: dict[str, str] = field(default_factory=dict)


def content_matches(declared: str, data: bytes) -> bool:
    """Does the content look like the (allow-listed) declared type?"""
    if declared in _OLE2_TYPES:
        return data.startswith(_OLE2_MAGIC)
    return media.is_compatible(declared, media.sniff_mime(data))


def check_type(upload: UploadedFile, allowed: frozenset[str]) -> str:
    """The upload's base MIME type; 415 when not allowed or not what the bytes are."""
    mime = media.base_mime(upload.content_type)
    if mime not in allowed:
        raise ServiceError(415, "File type not allowed")
    if not upload.data:
        raise bad_request("Uploaded file is empty")
    if not content_matches(mime, upload.data):
        raise ServiceError(415, "File content does not match its type")
    return mime


def clean_file_name(raw: str) -> str:
    """The client's file name without folders or control characters (for display)."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch >= " " and ch != "\x7f").strip()
    return name[:MAX_FILE_NAME] or "file"


def storage_name(file_name: str) -> str:
    """``<base>-<epoch-ms>-<random 0..1e9><ext>`` with a sanitised base and extension."""
    dot = file_name.rfind(".")
    base, ext = (file_name[:dot], file_name[dot:]) if dot > 0 else (file_name, "")
    base = _UNSAFE_NAME_CHARS.sub("_", base).strip("._")[:100] or "file"
    ext = "." + re.sub(r"[^A-Za-z0-9]", "", ext)[:16] if ext else ""
    if ext == ".":
        ext = ""
    return f"{base}-{int(time.time() * 1000)}-{secrets.randbelow(1_000_000_000)}{ext}"


def message_type(mime: str, requested: str | None) -> str:
    if mime.startswith("audio/"):
        return "audio"
    if mime.startswith("video/"):
        return "video"
    if requested == "image" and mime.startswith("image/"):
        return "image"
    return "file"


def _form_waveform(raw: str | None) -> list[float] | None:
    if not raw:
        return None
    try:
        bars = parse_waveform(json.loads(raw))
    except ValueError:
        return None
    return bars or None


def _form_duration(raw: str | None) -> float | None:
    try:
        value = float(raw) if raw else 0.0
    except ValueError:
        return None
    return value if math.isfinite(value) and 0 < value <= MAX_DURATION_S else None


class GroupUploads:
    def __init__(self, groups: GroupService, storage: Storage) -> None:
        self._groups = groups
        self._storage = storage
        self._tasks: set[asyncio.Task[None]] = set()

    async def drain(self) -> None:
        """Wait for background waveform jobs (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- message attachments ---------------------------------------------------------------

    async def require_sender(self, user_id: str, group_id: object) -> None:
        """Checked before the body is read, so non-members cannot make us buffer 50 MB."""
        await self._groups.require_accepted_member(
            self._groups.repo_pool,
            user_id,
            group_id,
            pending="Accept the group invite before sending files",
        )

    async def upload_file(
        self, user_id: str, group_id: object, upload: UploadedFile | None
    ) -> dict[str, Any]:
        gid = group_uuid(group_id)
        if upload is None:
            raise bad_request("No file uploaded")
        mime = check_type(upload, GROUP_MIME_TYPES)
        file_name = clean_file_name(upload.filename)
        caption = (upload.fields.get("caption") or "").strip()
        if len(caption) > MAX_CAPTION:
            raise bad_request(f"caption must be at most {MAX_CAPTION} characters")
        kind = message_type(mime, upload.fields.get("type"))
        waveform = _form_waveform(upload.fields.get("waveform"))
        duration = _form_duration(upload.fields.get("duration"))
        placeholder = kind == "audio" and waveform is None
        if placeholder:
            waveform = media.placeholder_waveform()
        if kind == "audio":
            content = "Voice message"
        else:
            content = caption or file_name

        folder = "audio" if mime.startswith("audio/") else "messages"
        key = f"{folder}/{storage_name(file_name)}"
        try:
            url = await self._storage.put(key, upload.data, mime)
        except Exception:
            log.exception("storing group upload failed")
            raise ServiceError(500, "File upload failed") from None

        repo = self._groups.repo
        emits = Emits()
        try:
            async with self._groups.repo_pool.acquire() as conn, conn.transaction():
                await self._groups.require_accepted_member(
                    conn, user_id, gid, pending="Accept the group invite before sending files"
                )
                row = await repo.insert_message(
                    conn,
                    gid,
                    user_id,
                    content=content,
                    type=kind,
                    file_url=url,
                    file_name=file_name,
                    file_size=len(upload.data),
                    file_type=mime,
                    audio_waveform=waveform if kind == "audio" else None,
                    audio_duration=duration if kind == "audio" else None,
                )
                sender = await repo.user_brief(conn, user_id)
                recipients = await repo.accepted_member_ids(conn, gid)
        except BaseException:
            await self._storage.delete(key)
            raise
        assert sender is not None
        live = present.live_message(row, present.brief_user(sender))
        emits.add(recipients, "group:message", live)
        emits.send(self._groups.bus())

        body: dict[str, Any] = {
            "success": True,
            "messageId": str(row["id"]),
            "fileUrl": url,
            "fileName": file_name,
            "fileSize": len(upload.data),
            "fileType": mime,
        }
        if kind == "audio" and waveform is not None:
            body["waveform"] = waveform
        if kind == "audio" and duration is not None:
            body["duration"] = duration
        body["needsWaveformGeneration"] = placeholder
        if placeholder:
            task = asyncio.create_task(self._fill_audio_metadata(gid, row["id"], upload.data, mime))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return body

    async def _fill_audio_metadata(
        self, gid: UUID, message_id: UUID, data: bytes, mime: str
    ) -> None:
        """Background job: store the duration read from the file, then tell the members.

        It never touches the waveform: a client PATCH may already have replaced
        the placeholder, and this job must not undo that.
        """
        try:
            duration = await media.audio_duration_async(data, mime)
            repo = self._groups.repo
            pool = self._groups.repo_pool
            if duration is not None:
                await repo.fill_duration(pool, message_id, duration)
            stored = await repo.message_by_id(pool, message_id)
            if stored is None:
                return
            recipients = await repo.accepted_member_ids(pool, gid)
            self._groups.bus().to_users(
                recipients,
                "audio:waveform",
                {
                    "messageId": str(message_id),
                    "waveform": stored["audio_waveform"],
                    "duration": stored["audio_duration"],
                },
            )
        except Exception:
            log.warning("audio metadata job failed for group message %s", message_id, exc_info=True)

    # --- group images ----------------------------------------------------------------------

    @staticmethod
    def _image_texts(kind: str) -> tuple[str, str, str]:
        """(column attribute, storage folder, permission error) for ``profile``/``cover``."""
        if kind == "profile":
            return "profileImage", "group-profiles", "Only admins can change the group avatar"
        return "coverImage", "group-covers", "Only admins can change the group cover image"

    async def require_image_editor(self, user_id: str, group_id: object, kind: str) -> None:
        gid = group_uuid(group_id)
        _, _, denied = self._image_texts(kind)
        repo = self._groups.repo
        pool = self._groups.repo_pool
        if await repo.group_by_id(pool, gid) is None:
            raise not_found("Group not found")
        member = await repo.member(pool, gid, user_id)
        if member is None or member["status"] != "accepted" or member["role"] == "member":
            raise forbidden(denied)

    async def set_image(
        self, user_id: str, group_id: object, kind: str, upload: UploadedFile | None
    ) -> dict[str, Any]:
        gid = group_uuid(group_id)
        attr, folder, denied = self._image_texts(kind)
        if upload is None:
            raise bad_request("No file uploaded")
        check_type(upload, IMAGE_MIME_TYPES)
        try:
            if kind == "profile":
                variants = await media.profile_variants_async(upload.data)
            else:
                variants = await media.cover_variants_async(upload.data)
        except media.MediaError as exc:
            raise bad_request(str(exc)) from None
        base = f"{folder}/{gid}-{int(time.time() * 1000)}"
        stored: list[str] = []
        try:
            urls = {}
            for suffix, data in variants.items():
                key = f"{base}{suffix}.jpg"
                urls[suffix] = await self._storage.put(key, data, "image/jpeg")
                stored.append(key)
        except Exception as exc:
            log.exception("storing group image failed")
            for key in stored:
                await self._storage.delete(key)
            raise ServiceError(500, "Upload failed", message=type(exc).__name__) from None
        url = urls[""]

        repo = self._groups.repo
        try:
            async with self._groups.repo_pool.acquire() as conn, conn.transaction():
                group = await repo.lock_group(conn, gid)
                if group is None:
                    raise not_found("Group not found")
                member = await repo.member(conn, gid, user_id)
                if member is None or member["status"] != "accepted" or member["role"] == "member":
                    raise forbidden(denied)
                old = group["profile_image" if kind == "profile" else "cover_image"]
                if kind == "profile":
                    await repo.set_profile_image(conn, gid, url)
                else:
                    await repo.set_cover_image(conn, gid, url)
                recipients = await repo.accepted_member_ids(conn, gid)
        except BaseException:
            for key in stored:
                await self._storage.delete(key)
            raise
        self._groups.bus().to_users(
            recipients, "group:updated", {"group": {"id": str(gid), attr: url}}
        )
        await self._groups.delete_files(image_variant_urls(old))
        return {"url": url}

    async def delete_image(self, user_id: str, group_id: object, kind: str) -> dict[str, Any]:
        gid = group_uuid(group_id)
        attr, _, denied = self._image_texts(kind)
        repo = self._groups.repo
        async with self._groups.repo_pool.acquire() as conn, conn.transaction():
            group = await repo.lock_group(conn, gid)
            member = await repo.member(conn, gid, user_id) if group else None
            if member is None or member["status"] != "accepted" or member["role"] == "member":
                raise forbidden(denied)
            assert group is not None
            old = group["profile_image" if kind == "profile" else "cover_image"]
            if old is None:
                return {"success": True}
            if kind == "profile":
                await repo.set_profile_image(conn, gid, None)
            else:
                await repo.set_cover_image(conn, gid, None)
            recipients = await repo.accepted_member_ids(conn, gid)
        self._groups.bus().to_users(
            recipients, "group:updated", {"group": {"id": str(gid), attr: None}}
        )
        await self._groups.delete_files(image_variant_urls(old))
        return {"success": True}
