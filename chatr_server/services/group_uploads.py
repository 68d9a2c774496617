"""Group file uploads and group images (rest.md §7 upload, profile-image, cover-image).

The HTTP layer streams the multipart body with a size cap and hands over the
bytes; here the declared type is checked against an allow-list (parameters
stripped) *and* against the sniffed content, the file is stored, and the
message or image column is written. Storage keys never contain client text
other than a sanitised base name.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from uuid import UUID

import asyncpg

from chatr_server.errors import ServiceError, bad_request, forbidden, not_found
from chatr_server.integrations import media
from chatr_server.integrations.storage import Storage
from chatr_server.presenters import groups as present
from chatr_server.repos.groups import GroupsRepo
from chatr_server.services import upload_policy as policy
from chatr_server.services.attachments import Attachments
from chatr_server.services.bus import EventBus
from chatr_server.services.groups import (
    Emits,
    GroupService,
    group_uuid,
    image_variant_urls,
    parse_waveform,
)
from chatr_server.services.upload_policy import MB, UploadedFile

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 50 * MB
MAX_IMAGE_BYTES = 10 * MB
EMPTY_FILE = "Uploaded file is empty"


class GroupUploads:
    """Given its own pool, repo, bus and signer; the group service only for its public checks."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        repo: GroupsRepo,
        groups: GroupService,
        storage: Storage,
        bus: EventBus,
        links: Attachments,
    ) -> None:
        self._pool = pool
        self._repo = repo
        self._groups = groups
        self._storage = storage
        self._bus = bus
        self._links = links
        self._tasks: set[asyncio.Task[None]] = set()

    async def drain(self) -> None:
        """Wait for background waveform jobs (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- message attachments ---------------------------------------------------------------

    async def require_sender(self, user_id: str, group_id: object) -> None:
        """Checked before the body is read, so non-members cannot make us buffer 50 MB."""
        await self._groups.require_accepted_member(
            self._pool,
            user_id,
            group_id,
            pending="Accept the group invite before sending files",
        )

    async def upload_file(
        self,
        user_id: str,
        group_id: object,
        upload: UploadedFile | None,
        fields: dict[str, str],
    ) -> dict[str, Any]:
        gid = group_uuid(group_id)
        if upload is None:
            raise bad_request("No file uploaded")
        mime = policy.check_type(upload, policy.GROUP_MIME_TYPES, EMPTY_FILE)
        file_name = policy.display_name(upload.filename)
        caption = policy.caption(fields, "caption")
        message = policy.file_message(mime, file_name, caption, fields, parse_waveform)
        # Group attachments keep the client's extension (cleaned), unlike DM ones.
        key = f"{policy.storage_folder(mime)}/{policy.stored_name(file_name)}"
        try:
            url = await self._storage.put(key, upload.data, mime)
        except Exception:
            log.exception("storing group upload failed")
            raise ServiceError(500, "File upload failed") from None

        repo = self._repo
        emits = Emits()
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await self._groups.require_accepted_member(
                    conn, user_id, gid, pending="Accept the group invite before sending files"
                )
                row = await repo.insert_message(
                    conn,
                    gid,
                    user_id,
                    content=message.content,
                    type=message.kind,
                    file_url=url,
                    file_name=file_name,
                    file_size=len(upload.data),
                    file_type=mime,
                    audio_waveform=message.waveform,
                    audio_duration=message.duration,
                )
                sender = await repo.user_brief(conn, user_id)
                recipients = await repo.accepted_member_ids(conn, gid)
        except BaseException:
            await self._storage.delete(key)
            raise
        assert sender is not None
        live = self._links.sign(present.live_message(row, present.brief_user(sender)))
        emits.add(recipients, "group:message", live)
        emits.send(self._bus)

        body = policy.upload_result(str(row["id"]), url, file_name, upload, mime, message)
        self._links.sign(body)
        if message.needs_waveform:
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
            repo = self._repo
            pool = self._pool
            if duration is not None:
                await repo.fill_duration(pool, message_id, duration)
            stored = await repo.message_by_id(pool, message_id)
            if stored is None:
                return
            recipients = await repo.accepted_member_ids(pool, gid)
            self._bus.to_users(
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
        repo = self._repo
        pool = self._pool
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
        policy.check_type(upload, policy.IMAGE_MIME_TYPES, EMPTY_FILE)
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

        repo = self._repo
        try:
            async with self._pool.acquire() as conn, conn.transaction():
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
        self._bus.to_users(recipients, "group:updated", {"group": {"id": str(gid), attr: url}})
        await self._groups.delete_files(image_variant_urls(old))
        return {"url": url}

    async def delete_image(self, user_id: str, group_id: object, kind: str) -> dict[str, Any]:
        gid = group_uuid(group_id)
        attr, _, denied = self._image_texts(kind)
        repo = self._repo
        async with self._pool.acquire() as conn, conn.transaction():
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
        self._bus.to_users(recipients, "group:updated", {"group": {"id": str(gid), attr: None}})
        await self._groups.delete_files(image_variant_urls(old))
        return {"success": True}
