"""The embeddable support widget: guests, their chat with the agent (rest.md §9).

Guests are ordinary user rows (``is_guest``) that chat with "the" support
agent over the normal socket events; this service covers the REST side:
creating and resuming guest sessions, history, uploads, offline messages,
ending a chat, and deleting abandoned guests (behaviors.md §14).

SEC-15: a session is resumed only with proof it belongs to the caller — the
``resumeToken`` returned when it was created, or a valid guest JWT for that
guest. Without proof a new guest is created, so the unchanged widget (which
only posts its stored ``guestId``) keeps working. Guest creation and offline
messages are rate-limited by the handlers; ``context`` is bounded here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import time
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from chatr_server.errors import ServiceError, bad_request, forbidden
from chatr_server.integrations.storage import Storage
from chatr_server.repos.widget import WidgetRepo
from chatr_server.services.attachments import Attachments
from chatr_server.services.bus import EventBus
from chatr_server.services.presence import PresenceService
from chatr_server.services.tokens import TokenService
from chatr_server.services.upload_policy import (
    DM_MIME_TYPES,
    MB,
    UploadedFile,
    check_type,
    display_name,
    stored_name,
)
from chatr_server.util.ids import parse_uuid
from chatr_server.util.timefmt import iso_ms

log = logging.getLogger(__name__)

MAX_GUEST_NAME = 60
MAX_CONTACT_EMAIL = 255
MAX_OFFLINE_MESSAGE = 5000
MAX_UPLOAD_BYTES = 50 * MB
MAX_RESUME_TOKEN = 128

# Guests this old with no conversation row are abandoned (behaviors.md §14).
GUEST_MAX_AGE_S = 60 * 60
CLEANUP_INTERVAL_S = 30 * 60

# context: what the widget sends is a flat-ish object of page facts (URL,
# title, referrer, user agent, screen size, language, timezone).
MAX_CONTEXT_BYTES = 8 * 1024
MAX_CONTEXT_KEYS = 32
MAX_CONTEXT_KEY = 64
MAX_CONTEXT_STRING = 2048

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"

NO_AGENT = "Support is currently unavailable"
NOT_GUEST = "Not a guest session"


def guest_username(now_ms: int | None = None) -> str:
    """``@widget_<epoch-ms>_<6 lowercase base36>`` (the ``@`` every username carries)."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    tail = "".join(secrets.choice(_BASE36) for _ in range(6))
    return f"@widget_{ms}_{tail}"


def unusable_password_hash() -> str:
    """A random value that is not a bcrypt hash: no password can ever match it."""
    return "!guest:" + secrets.token_hex(16)


def _context_value(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if isinstance(value, float) and value != value:  # NaN cannot come from JSON, but be safe
            raise bad_request("context values must be finite")
        return value
    if isinstance(value, str):
        # Long URLs and user agents are truncated rather than refused, so a
        # visitor on a page with a huge query string can still chat.
        return value[:MAX_CONTEXT_STRING]
    if isinstance(value, dict) and depth < 1:
        return _context_object(value, depth + 1)
    raise bad_request("context must be an object of strings, numbers or small objects")


def _context_object(value: dict[str, Any], depth: int) -> dict[str, Any]:
    if len(value) > MAX_CONTEXT_KEYS:
        raise bad_request(f"context may have at most {MAX_CONTEXT_KEYS} keys")
    cleaned: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > MAX_CONTEXT_KEY:
            raise bad_request("context keys must be short strings")
        cleaned[key] = _context_value(item, depth)
    return cleaned


def validate_context(value: Any) -> dict[str, Any] | None:
    """The visitor context to store: an object of scalars (one level of nesting), bounded."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("context must be an object")
    cleaned = _context_object(value, 0)
    if len(orjson.dumps(cleaned)) > MAX_CONTEXT_BYTES:
        raise bad_request("context is too large")
    return cleaned


def _required_text(value: Any, message: str) -> str:
    if value is None:
        raise bad_request(message)
    if not isinstance(value, str):
        raise bad_request(message)
    text = value.strip()
    if not text:
        raise bad_request(message)
    return text


def _contact_email(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request("contactEmail must be a string")
    cleaned = "".join(ch for ch in value if ch >= " " and ch != "\x7f").strip()
    return cleaned[:MAX_CONTACT_EMAIL] or None


def message_row(row: Any) -> dict[str, Any]:
    """The raw message shape of the widget upload (and its ``message:received``)."""
    return {
        "id": str(row["id"]),
        "senderId": str(row["sender_id"]),
        "recipientId": str(row["recipient_id"]),
        "content": row["content"],
        "type": row["type"],
        "fileUrl": row["file_url"],
        "fileName": row["file_name"],
        "fileSize": row["file_size"],
        "fileType": row["file_type"],
        "createdAt": iso_ms(row["created_at"]),
    }


class WidgetService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        repo: WidgetRepo,
        tokens: TokenService,
        bus: EventBus,
        storage: Storage,
        secret: str,
        presence: PresenceService | None = None,
        *,
        links: Attachments,
    ) -> None:
        self._pool = pool
        self._links = links
        self._repo = repo
        self._tokens = tokens
        self._bus = bus
        self._storage = storage
        self._presence = presence
        # A key of its own, derived from the server secret, for resume tokens.
        self._resume_key = hmac.new(
            secret.encode(), b"chatr guest resume v1", hashlib.sha256
        ).digest()
        self._cleanup_task: asyncio.Task[None] | None = None

    # ---- resume secrets ---------------------------------------------------

    def resume_token(self, guest_id: UUID | str, nonce: str) -> str:
        mac = hmac.new(self._resume_key, f"{guest_id}:{nonce}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()

    def _proves(self, row: Any, resume_token: Any, bearer_user_id: str | None) -> bool:
        if bearer_user_id is not None and bearer_user_id == str(row["id"]):
            return True
        nonce = row["guest_resume_nonce"]
        if not nonce or not isinstance(resume_token, str) or len(resume_token) > MAX_RESUME_TOKEN:
            return False
        expected = self.resume_token(row["id"], nonce)
        return hmac.compare_digest(expected.encode(), resume_token.encode())

    # ---- agent ------------------------------------------------------------

    async def _agent(self) -> Any:
        return await self._repo.support_agent(self._pool)

    async def support_agent(self) -> dict[str, Any]:
        agent = await self._agent()
        if agent is None:
            raise ServiceError(404, "No support agent configured")
        online = False
        if self._presence is not None:
            record = await self._presence.record(str(agent["id"]))
            online = record is not None and record["status"] == "online"
        return {
            "id": str(agent["id"]),
            "displayName": agent["display_name"] or agent["username"],
            "username": agent["username"],
            "profileImage": agent["profile_image"],
            "online": online,
        }

    # ---- sessions ---------------------------------------------------------

    async def _create_guest(
        self,
        db: Any,
        name: str,
        contact_email: str | None,
        context: dict[str, Any] | None,
    ) -> Any:
        nonce = secrets.token_urlsafe(24)
        for attempt in range(3):
            values = (
                guest_username(),
                name,
                unusable_password_hash(),
                contact_email,
                context,
                nonce,
            )
            try:
                async with db.transaction():
                    return await self._repo.insert_guest(db, values)
            except asyncpg.UniqueViolationError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def guest_session(
        self, body: dict[str, Any], bearer_user_id: str | None = None
    ) -> dict[str, Any]:
        """Create a guest, or resume one the caller proves to own; returns the session."""
        raw_name = body.get("guestName")
        name = _required_text(raw_name, "guestName is required")[:MAX_GUEST_NAME]
        contact_email = _contact_email(body.get("contactEmail"))
        context = validate_context(body.get("context"))
        guest_id = body.get("guestId")
        if guest_id is not None and not isinstance(guest_id, str):
            raise bad_request("guestId must be a string")
        agent = await self._agent()
        if agent is None:
            raise ServiceError(503, NO_AGENT)
        row = None
        async with self._pool.acquire() as conn:
            wanted = parse_uuid(guest_id) if guest_id else None
            if wanted is not None:
                existing = await self._repo.guest_for_resume(conn, wanted)
                if existing is not None and self._proves(
                    existing, body.get("resumeToken"), bearer_user_id
                ):
                    row = await self._repo.resume_guest(
                        conn, wanted, name, contact_email, context, secrets.token_urlsafe(24)
                    )
            if row is None:
                row = await self._create_guest(conn, name, contact_email, context)
        guest = str(row["id"])
        return {
            "token": self._tokens.issue_guest_token(guest),
            "guestId": guest,
            "guestName": row["display_name"],
            "supportAgentId": str(agent["id"]),
            "resumeToken": self.resume_token(guest, row["guest_resume_nonce"]),
        }

    async def require_guest(self, user_id: str) -> Any:
        """The caller's guest row; 403 for a user that is not (or no longer) a guest."""
        row = await self._repo.guest_identity(self._pool, user_id)
        if row is None or not row["is_guest"]:
            raise forbidden(NOT_GUEST)
        return row

    async def history(self, user_id: str) -> dict[str, Any]:
        await self.require_guest(user_id)
        agent = await self._agent()
        if agent is None:
            return {"messages": []}
        rows = await self._repo.history(self._pool, user_id, agent["id"])
        messages = []
        for row in rows:
            item = self._links.sign(message_row(row))
            created = item.pop("createdAt")
            item["audioWaveform"] = row["audio_waveform"]
            item["audioDuration"] = row["audio_duration"]
            item["createdAt"] = created
            messages.append(item)
        return {"messages": messages}

    async def upload(self, guest: Any, file: UploadedFile | None) -> dict[str, Any]:
        """Store a guest's attachment as a message to the agent (caller already checked)."""
        # A part without a file name (or an empty file) is no file.
        if file is None or not file.data or not file.filename:
            raise bad_request("No file uploaded")
        mime = check_type(file, DM_MIME_TYPES, "No file uploaded")
        agent = await self._agent()
        if agent is None:
            raise ServiceError(503, "Support unavailable")
        file_name = display_name(file.filename)
        # The client's extension is kept when it fits the type.
        key = f"messages/{stored_name('widget' + os.path.splitext(file_name)[1], mime)}"
        try:
            url = await self._storage.put(key, file.data, mime)
        except Exception:
            log.exception("widget upload could not be stored")
            raise ServiceError(500, "Upload failed") from None
        kind = "file"
        if mime.startswith(("image/", "video/")):
            kind = mime.split("/", 1)[0]
        try:
            row = await self._repo.insert_message(
                self._pool,
                (guest["id"], agent["id"], url, kind, url, file_name, len(file.data), mime),
            )
        except Exception:
            with contextlib.suppress(Exception):
                await self._storage.delete(key)
            raise
        message = self._links.sign(message_row(row))
        self._bus.to_user(str(agent["id"]), "message:received", message)
        return {"message": message}

    async def offline_message(self, body: dict[str, Any]) -> dict[str, Any]:
        """Leave a message while nobody is chatting: a guest, an accepted conversation, a DM."""
        message = "Name and message are required"
        raw_name = body.get("guestName")
        raw_text = body.get("message")
        if not isinstance(raw_name, str) or not isinstance(raw_text, str):
            raise bad_request(message)
        name = _required_text(raw_name, message)[:MAX_GUEST_NAME]
        text = _required_text(raw_text, message)
        if len(text) > MAX_OFFLINE_MESSAGE:
            raise bad_request(f"Message too long (max {MAX_OFFLINE_MESSAGE} characters)")
        contact_email = _contact_email(body.get("contactEmail"))
        context = validate_context(body.get("context"))
        agent = await self._agent()
        if agent is None:
            raise ServiceError(503, NO_AGENT)
        async with self._pool.acquire() as conn, conn.transaction():
            guest = await self._create_guest(conn, name, contact_email, context)
            conversation = await self._repo.conversation_for_pair(conn, guest["id"], agent["id"])
            await self._repo.accept_conversation(conn, conversation["id"])
            await self._repo.insert_message(
                conn, (guest["id"], agent["id"], text, "text", None, None, None, None)
            )
        self._bus.to_user(
            str(agent["id"]),
            "widget:offline-message",
            {
                "guestId": str(guest["id"]),
                "guestName": name,
                "contactEmail": contact_email,
                "message": text,
            },
        )
        return {"success": True}

    async def end_chat(self, user_id: str) -> dict[str, Any]:
        guest = await self.require_guest(user_id)
        agent = await self._agent()
        if agent is not None:
            name = guest["display_name"] or "Guest"
            text = f"{name} has left the chat."
            await self._repo.insert_message(
                self._pool, (guest["id"], agent["id"], text, "system", None, None, None, None)
            )
            self._bus.to_user(
                str(agent["id"]),
                "guest:left",
                {"guestId": str(guest["id"]), "guestName": name, "message": text},
            )
        return {"success": True}

    # ---- clean-up ---------------------------------------------------------

    async def cleanup_guests(self, max_age_s: float = GUEST_MAX_AGE_S) -> int:
        """One pass: delete abandoned guests (and their messages); returns how many."""
        deleted = await self._repo.delete_stale_guests(self._pool, max_age_s)
        if deleted:
            log.info("deleted %d abandoned guest(s)", len(deleted))
        return len(deleted)

    async def _cleanup_loop(self, interval_s: float) -> None:
        while True:
            try:
                await self.cleanup_guests()
            except Exception:
                log.warning("guest clean-up failed", exc_info=True)
            await asyncio.sleep(interval_s)

    def start_cleanup(self, interval_s: float = CLEANUP_INTERVAL_S) -> None:
        """Run the clean-up now and then every ``interval_s`` in the background."""
        if self._cleanup_task is None:
            self._cleanup_task = asyncio.create_task(
                self._cleanup_loop(interval_s), name="guest-cleanup"
            )

    async def stop_cleanup(self) -> None:
        if self._cleanup_task is not None:
            self._cleanup_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._cleanup_task
            self._cleanup_task = None
