"""DM file uploads, downloads and waveforms; profile and cover pictures (rest.md §3, §4).

Uploads are never trusted by their declared type: the MIME type (without
parameters) must be on the route's allow-list *and* agree with the sniffed
bytes, else 415. Stored names are generated; only the display name keeps what
the client sent. A file message also gets its conversation row, so history and
the conversation list see it before the follow-up ``message:send``.

Downloads accept the Bearer header or a short-lived signed ``?token=`` (HMAC of
message id and expiry under a key derived from ``JWT_SECRET``), so the client's
plain anchor links can work once it asks ``/api/messages/download/:id/link``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from chatr_server.errors import ServiceError, bad_request, forbidden, not_found
from chatr_server.integrations import media
from chatr_server.integrations.storage import Storage, StorageError
from chatr_server.repos.directory import DirectoryRepo
from chatr_server.repos.friendships import FriendshipsRepo
from chatr_server.repos.messages import MessagesRepo
from chatr_server.services.attachments import Attachments
from chatr_server.services.bus import EventBus
from chatr_server.services.profile_events import ProfileEvents
from chatr_server.services.testmode import TestMode
from chatr_server.services.upload_policy import (
    DM_MIME_TYPES,
    IMAGE_MIME_TYPES,
    MB,
    UploadedFile,
    caption,
    check_type,
    content_matches,
    display_name,
    duration_seconds,
    file_message,
    storage_folder,
    stored_name,
    upload_result,
    waveform_bars,
)
from chatr_server.util.ids import parse_uuid
from chatr_server.util.timefmt import iso_ms

log = logging.getLogger(__name__)

MAX_MESSAGE_FILE = 50 * MB
MAX_PROFILE_IMAGE = 5 * MB
MAX_COVER_IMAGE = 10 * MB
MAX_WAVEFORM_BARS = 2000
DOWNLOAD_LINK_TTL_S = 300

_MIME_SHAPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
# Types a browser could execute or render as a page: never sent as such.
_ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "text/css",
    }
)


def _failure(status: int, error: str, detail: str) -> ServiceError:
    """``{"error": …, "message": <detail>}``, the body some upload failures use."""
    exc = ServiceError(status, error)
    # `message` is ServiceError's own parameter name, so the extra key is set afterwards.
    exc.extra["message"] = detail
    return exc


@dataclass(frozen=True, slots=True)
class DownloadTarget:
    """Where a download goes: a redirect (object store) or a local file."""

    redirect_url: str | None
    path: Path | None
    filename: str
    content_type: str


def safe_content_type(value: str | None) -> str:
    """A type that is safe to send: well-formed, and never one a browser would run."""
    mime = media.base_mime(value)
    if not mime or not _MIME_SHAPE.match(mime):
        return "application/octet-stream"
    if mime in _ACTIVE_TYPES:
        return "text/plain" if mime.startswith("text/") else "application/octet-stream"
    return mime


def clean_waveform(value: Any) -> list[float] | None:
    """A non-empty list of finite numbers, clamped into 0..1; ``None`` when unusable."""
    return waveform_bars(value, MAX_WAVEFORM_BARS, clamp=True) or None


def _image_keys(key: str, folder: str, suffixes: tuple[str, ...]) -> list[str]:
    """All variant keys of one of our stored pictures (only inside its own folder)."""
    if not key.startswith(folder + "/") or not key.endswith(".jpg"):
        return []
    stem = key[: -len(".jpg")]
    for suffix in suffixes:
        if suffix and stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    return [f"{stem}{suffix}.jpg" for suffix in suffixes]


@dataclass(frozen=True, slots=True)
class _ImageKind:
    column: str
    folder: str
    max_bytes: int
    sizes: tuple[str, ...]
    make: Callable[[bytes], Awaitable[dict[str, bytes]]]
    missing: str
    deleted: str


_PROFILE = _ImageKind(
    "profile",
    "profiles",
    MAX_PROFILE_IMAGE,
    tuple(media.PROFILE_SIZES),
    media.profile_variants_async,
    "No profile image to delete",
    "Profile image deleted successfully",
)
_COVER = _ImageKind(
    "cover",
    "covers",
    MAX_COVER_IMAGE,
    tuple(media.COVER_SIZES),
    media.cover_variants_async,
    "No cover image to delete",
    "Cover image deleted successfully",
)


class UploadService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        messages: MessagesRepo,
        directory: DirectoryRepo,
        friendships: FriendshipsRepo,
        storage: Storage,
        test_mode: TestMode,
        secret: str,
        bus: EventBus,
        links: Attachments,
        profile_events: ProfileEvents,
    ) -> None:
        self._pool = pool
        self._links = links
        self._messages = messages
        self._directory = directory
        self._friendships = friendships
        self._profile_events = profile_events
        self._storage = storage
        self._test_mode = test_mode
        self._bus = bus
        self._link_key = hmac.new(secret.encode(), b"chatr:download-link:v1", "sha256").digest()
        self._tasks: set[asyncio.Task[None]] = set()

    # --- DM files ------------------------------------------------------------------------

    async def upload_message_file(
        self, user_id: str, file: UploadedFile | None, fields: dict[str, str]
    ) -> dict[str, Any]:
        """Store a DM attachment and create its message (and the pair's conversation row)."""
        if file is None:
            raise bad_request("No file uploaded")
        recipient_raw = (fields.get("recipientId") or "").strip()
        if not recipient_raw:
            raise bad_request("Recipient ID required")
        mime = check_type(file, DM_MIME_TYPES, "File is empty")
        caption_text = caption(fields)
        sender = UUID(user_id)
        recipient = parse_uuid(recipient_raw)
        if recipient == sender:
            raise bad_request("Cannot send a message to yourself")
        if recipient is None or not await self._directory.user_exists(self._pool, recipient):
            raise not_found("Recipient not found")
        if await self._friendships.blocked(self._pool, sender, recipient):
            raise forbidden("You cannot send messages to this user")

        name = display_name(file.filename)
        message = file_message(mime, name, caption_text, fields, clean_waveform)
        key = f"{storage_folder(mime)}/{stored_name(name, mime)}"
        try:
            url = await self._storage.put(key, file.data, mime)
        except (StorageError, OSError):
            log.exception("storing a message upload failed")
            raise ServiceError(500, "File upload failed") from None
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                row = await self._messages.insert_file_message(
                    conn,
                    (
                        sender,
                        recipient,
                        message.content,
                        message.kind,
                        url,
                        name,
                        len(file.data),
                        mime,
                        message.waveform,
                        message.duration,
                    ),
                )
                await self._messages.ensure_conversation(conn, sender, recipient)
        except asyncpg.ForeignKeyViolationError:
            # An account vanished between the check and the insert.
            await self._delete_quietly([key])
            raise not_found("Recipient not found") from None
        except asyncpg.PostgresError:
            log.exception("saving a message upload failed")
            await self._delete_quietly([key])
            raise ServiceError(500, "File upload failed") from None

        message_id = str(row["id"])
        if message.needs_waveform and message.duration is None:
            self._spawn(self._detect_duration(message_id, file.data, mime))
        return self._links.sign(upload_result(message_id, url, name, file, mime, message))

    async def _detect_duration(self, message_id: str, data: bytes, mime: str) -> None:
        """Background: read the real duration from the file and tell both participants."""
        duration = await media.audio_duration_async(data, mime)
        if duration is None:
            return
        row = await self._messages.set_detected_duration(self._pool, message_id, duration)
        if row is None:
            return
        payload = {
            "messageId": message_id,
            "waveform": row["audio_waveform"],
            "duration": row["audio_duration"],
        }
        self._bus.to_users(
            [str(row["sender_id"]), str(row["recipient_id"])], "audio:waveform", payload
        )

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coro
            except Exception:
                log.exception("background upload task failed")

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        """Wait for background work (duration detection) to finish."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- waveform ------------------------------------------------------------------------

    async def set_waveform(self, user_id: str, message: str, body: dict[str, Any]) -> None:
        """``PATCH /api/messages/:id/waveform``: the sender replaces the waveform."""
        bars = body.get("waveform")
        if not isinstance(bars, list):
            raise bad_request("waveform array required")
        waveform = clean_waveform(bars) if bars else []
        if waveform is None:
            raise bad_request(
                f"waveform must be at most {MAX_WAVEFORM_BARS} finite numbers between 0 and 1"
            )
        raw_duration = body.get("duration")
        duration = None
        if raw_duration is not None:
            duration = duration_seconds(raw_duration)
            if duration is None and raw_duration != 0:
                raise bad_request("duration must be a positive number of seconds")
        message_id = parse_uuid(message)
        row = await self._messages.by_id(self._pool, message_id) if message_id else None
        if row is None:
            raise not_found("Message not found")
        if str(row["sender_id"]) != user_id:
            raise forbidden("Access denied")
        updated = await self._messages.set_waveform(self._pool, message_id, waveform, duration)
        if updated is None:
            raise not_found("Message not found")
        payload = {
            "messageId": str(message_id),
            "waveform": waveform,
            "duration": updated["audio_duration"],
        }
        self._bus.to_users(
            [str(updated["sender_id"]), str(updated["recipient_id"])], "audio:waveform", payload
        )

    # --- downloads -----------------------------------------------------------------------

    def _signature(self, message_id: str, expires: int) -> str:
        mac = hmac.new(self._link_key, f"{message_id}.{expires}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()

    def sign_download(self, message_id: str, ttl_s: int = DOWNLOAD_LINK_TTL_S) -> tuple[str, int]:
        """A ``<expiry>.<signature>`` token for one message's file, and its expiry (epoch s)."""
        expires = int(time.time()) + ttl_s
        return f"{expires}.{self._signature(message_id, expires)}", expires

    def verify_download(self, message_id: str, token: str) -> bool:
        expires_raw, _, signature = token.partition(".")
        if not expires_raw.isdigit() or len(expires_raw) > 12 or not signature:
            return False
        expires = int(expires_raw)
        if expires < time.time():
            return False
        return hmac.compare_digest(signature, self._signature(message_id, expires))

    async def _downloadable(self, message: str) -> asyncpg.Record:
        message_id = parse_uuid(message)
        row = await self._messages.by_id(self._pool, message_id) if message_id else None
        if row is None or not row["file_url"] or row["deleted_at"] is not None:
            raise not_found("File not found")
        return row

    async def download_link(self, user_id: str, message: str) -> dict[str, Any]:
        """A signed URL a participant can hand to a plain ``<a href>``."""
        row = await self._downloadable(message)
        if user_id not in (str(row["sender_id"]), str(row["recipient_id"])):
            raise forbidden("Access denied")
        message_id = str(row["id"])
        token, expires = self.sign_download(message_id)
        return {
            "url": f"/api/messages/download/{message_id}?token={token}",
            "expiresAt": iso_ms(datetime.fromtimestamp(expires, UTC)),
        }

    async def download(
        self, user_id: str | None, message: str, token: str | None
    ) -> DownloadTarget:
        """Resolve a download for a participant (header auth) or a valid signed token."""
        row = await self._downloadable(message)
        message_id = str(row["id"])
        if user_id is not None:
            if user_id not in (str(row["sender_id"]), str(row["recipient_id"])):
                raise forbidden("Access denied")
        elif not token or not self.verify_download(message_id, token):
            raise forbidden("Invalid or expired download link")
        filename = row["file_name"] or "download"
        content_type = safe_content_type(row["file_type"])
        key = self._storage.key_from_url(row["file_url"])
        if key is None:
            raise not_found("File not found on disk")
        try:
            redirect = await self._storage.signed_url(key, filename, DOWNLOAD_LINK_TTL_S)
        except Exception:
            log.exception("signing a download URL failed")
            raise ServiceError(500, "Download failed") from None
        if redirect is not None:
            return DownloadTarget(redirect, None, filename, content_type)
        path = self._storage.local_path(key)
        if path is None or not await asyncio.to_thread(path.is_file):
            raise not_found("File not found on disk")
        return DownloadTarget(None, path, filename, content_type)

    # --- profile and cover pictures -------------------------------------------------------

    async def set_profile_image(self, user_id: str, file: UploadedFile | None) -> dict[str, Any]:
        url = await self._replace_image(_PROFILE, user_id, file)
        await self._profile_events.announce(user_id, {"userId": user_id, "profileImage": url})
        return {"url": url}

    async def set_cover_image(self, user_id: str, file: UploadedFile | None) -> dict[str, Any]:
        return {"url": await self._replace_image(_COVER, user_id, file)}

    async def delete_profile_image(self, user_id: str) -> dict[str, Any]:
        return await self._clear_image(_PROFILE, user_id)

    async def delete_cover_image(self, user_id: str) -> dict[str, Any]:
        return await self._clear_image(_COVER, user_id)

    async def _replace_image(
        self, kind: _ImageKind, user_id: str, file: UploadedFile | None
    ) -> str:
        if file is None:
            raise bad_request("No file uploaded")
        mime = media.base_mime(file.content_type)
        if mime not in IMAGE_MIME_TYPES:
            raise ServiceError(415, "Only JPEG, PNG and WebP images are allowed")
        if not file.data or not content_matches(mime, file.data):
            raise ServiceError(415, "File content is not a JPEG, PNG or WebP image")
        try:
            variants = await kind.make(file.data)
        except media.MediaError as exc:
            raise _failure(400, "Upload failed", str(exc)) from None
        stem = f"{kind.folder}/{user_id}-{int(time.time() * 1000)}"
        keys = [f"{stem}{suffix}.jpg" for suffix in kind.sizes]
        urls: dict[str, str] = {}
        try:
            for suffix, key in zip(kind.sizes, keys, strict=True):
                urls[suffix] = await self._storage.put(key, variants[suffix], "image/jpeg")
        except (StorageError, OSError):
            log.exception("storing a %s image failed", kind.column)
            await self._delete_quietly(keys)
            raise _failure(500, "Upload failed", "The image could not be stored") from None
        replace = (
            self._directory.replace_profile_image
            if kind is _PROFILE
            else self._directory.replace_cover_image
        )
        try:
            row = await replace(self._pool, user_id, urls[""])
        except asyncpg.PostgresError:
            log.exception("saving a %s image failed", kind.column)
            await self._delete_quietly(keys)
            raise ServiceError(500, "Failed to update database") from None
        if row is None:
            await self._delete_quietly(keys)
            raise not_found("User not found")
        await self._delete_image_files(kind, row["previous"])
        return urls[""]

    async def _clear_image(self, kind: _ImageKind, user_id: str) -> dict[str, Any]:
        clear = (
            self._directory.clear_profile_image
            if kind is _PROFILE
            else self._directory.clear_cover_image
        )
        try:
            row = await clear(self._pool, user_id)
        except asyncpg.PostgresError:
            log.exception("clearing a %s image failed", kind.column)
            raise _failure(500, "Delete failed", "The image could not be removed") from None
        if row is None:
            return {"message": kind.missing}
        await self._delete_image_files(kind, row["previous"])
        return {"message": kind.deleted}

    async def _delete_image_files(self, kind: _ImageKind, url: str | None) -> None:
        """Remove a replaced picture's variants; failures only leave orphaned files."""
        key = self._storage.key_from_url(url) if url else None
        if key:
            await self._delete_quietly(_image_keys(key, kind.folder, kind.sizes))

    async def _delete_quietly(self, keys: list[str]) -> None:
        for key in keys:
            try:
                await self._storage.delete(key)
            except (StorageError, OSError, ValueError):
                log.warning("could not delete stored file", extra={"key": key})
