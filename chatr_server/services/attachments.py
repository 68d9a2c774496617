"""Message attachments are private (SEC-17): who may read one, and the links that load it.

Attachments (DM, group and widget uploads alike) live under ``messages/`` and
``audio/``. ``GET /uploads/<folder>/<name>`` answers them only to

* a Bearer token whose user takes part in a live message carrying the file
  (sender or recipient of the DM, accepted member of the group), or
* a signed link ``?exp=<epoch s>&sig=<HMAC-SHA256>``: the HMAC of the storage
  key and the expiry under a key derived from ``JWT_SECRET``, so a link opens
  that one file only, until it expires.

The web client loads attachments with ``<img>``/``<audio>``/``<video>`` tags,
which send no Authorization header. So whenever a message goes out to one of its
participants (histories, live events, group lists, widget, upload answers) its
``fileUrl`` is replaced by a signed link; the database keeps the stored URL.
That costs one HMAC per attachment message; a text message pays one ``None``
check. The expiry is rounded down to a quarter of ``ATTACHMENT_LINK_TTL``, so a
file presented many times within that quarter keeps one URL (the browser's
cache works, and the link is computed once: see :meth:`Attachments.link`) and a
link lives between 3/4 and all of the lifetime.

With object storage the link is this server's ``/uploads/<key>`` rather than the
bucket's own URL (which no check could guard); the route then redirects to a
presigned URL, so the bucket itself can stay private.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import asyncpg

from chatr_server.integrations.storage import LocalStorage, Storage, is_safe_key
from chatr_server.repos.attachments import AttachmentsRepo
from chatr_server.services.upload_policy import ATTACHMENT_FOLDERS

UPLOADS_PREFIX = "/uploads/"
_SIGNATURE_CHARS = 43  # unpadded base64 of a SHA-256 digest
_MAX_CACHED_LINKS = 10_000


def is_attachment(key: str) -> bool:
    """Whether a storage key is a message attachment (private), not a picture (public)."""
    return key.partition("/")[0] in ATTACHMENT_FOLDERS


class Attachments:
    def __init__(
        self,
        secret: str,
        storage: Storage,
        pool: asyncpg.Pool,
        repo: AttachmentsRepo,
        *,
        ttl_s: int,
        public_url: str | None = None,
    ) -> None:
        key = hmac.new(secret.encode(), b"chatr:attachment-link:v1", hashlib.sha256).digest()
        # Keyed once; each signature copies it (cheaper than a new HMAC).
        self._mac = hmac.new(key, digestmod=hashlib.sha256)
        self._storage = storage
        self._pool = pool
        self._repo = repo
        self.ttl_s = ttl_s
        self._step = max(1, ttl_s // 4)
        # Local files keep their relative /uploads URL; object-store files are
        # presented on this server (absolute when PUBLIC_URL says where it is).
        base = "" if isinstance(storage, LocalStorage) else (public_url or "")
        self._base = base.rstrip("/")
        # Links of the current expiry window by stored URL: a file shown again
        # (history pages, group lists) costs a dict lookup.
        self._links: dict[str, str] = {}
        self._links_expire = 0

    # --- signed links --------------------------------------------------------------------

    def signature(self, key: str, expires: int) -> str:
        mac = self._mac.copy()
        mac.update(f"{key}\n{expires}".encode())
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()

    def _expiry(self) -> int:
        now = int(time.time())
        return now - now % self._step + self.ttl_s

    def link_for_key(self, key: str, expires: int | None = None) -> str:
        """The signed ``/uploads`` URL of one attachment (expiry rounded, see module doc)."""
        if expires is None:
            expires = self._expiry()
        sig = self.signature(key, expires)
        return f"{self._base}{UPLOADS_PREFIX}{quote(key, safe='/')}?exp={expires}&sig={sig}"

    def link(self, url: str) -> str:
        """What a participant is shown for a stored file URL: a signed link for an
        attachment of ours, anything else (pictures, foreign URLs) unchanged."""
        expires = self._expiry()
        if expires != self._links_expire:
            self._links.clear()
            self._links_expire = expires
        shown = self._links.get(url)
        if shown is None:
            key = self._storage.key_from_url(url)
            shown = url
            if key is not None and is_attachment(key):
                shown = self.link_for_key(key, expires)
            if len(self._links) < _MAX_CACHED_LINKS:
                self._links[url] = shown
        return shown

    def sign(self, message: dict[str, Any]) -> dict[str, Any]:
        """Swap a presented message's ``fileUrl`` for its signed link, in place.

        A widget upload's ``content`` is its file URL (rest.md §widget), so it follows.
        """
        self.sign_all((message,))
        return message

    def sign_all(self, messages: Iterable[dict[str, Any] | None]) -> None:
        """:meth:`sign` for the payloads of one message (one HMAC for all of them)."""
        stored: str | None = None
        signed = ""
        for message in messages:
            if message is None:
                continue
            url = message.get("fileUrl")
            if not url:
                continue
            if url != stored:
                stored, signed = url, self.link(url)
            message["fileUrl"] = signed
            if message.get("content") == url:
                message["content"] = signed

    def verify(self, key: str, expires_raw: str, signature: str) -> int | None:
        """Seconds a valid link for ``key`` still lives (at most the lifetime), else ``None``."""
        if not expires_raw.isdigit() or len(expires_raw) > 12:
            return None
        if len(signature) != _SIGNATURE_CHARS:
            return None
        expires = int(expires_raw)
        remaining = expires - int(time.time())
        if remaining <= 0:
            return None
        expected = self.signature(key, expires)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            return None
        return min(remaining, self.ttl_s)

    # --- participants --------------------------------------------------------------------

    async def may_read(self, user_id: str, key: str) -> bool:
        """Whether the user takes part in a live message carrying this attachment."""
        name = key.rpartition("/")[2]
        urls = await self._repo.readable_urls(self._pool, user_id, quote(name))
        return any(self._storage.key_from_url(url) == key for url in urls)

    def key_of(self, url: str) -> str | None:
        """The storage key behind one of our file URLs, stored or presented (signed) form."""
        key = self._storage.key_from_url(url)
        if key is not None:
            return key
        parts = urlsplit(url)
        if parts.scheme or parts.netloc:
            if not self._base:
                return None
            origin = urlsplit(self._base)
            if (parts.scheme, parts.netloc.lower()) != (origin.scheme, origin.netloc.lower()):
                return None
        if not parts.path.startswith(UPLOADS_PREFIX):
            return None
        key = unquote(parts.path[len(UPLOADS_PREFIX) :])
        return key if is_safe_key(key) else None

    async def stored_url(self, user_id: str, url: str) -> str | None:
        """The stored form of a file URL a client sends with a new message (say, one it
        was shown and now forwards); ``None`` when it is not a file of ours, or an
        attachment the user may not read: knowing a file's name must not be enough
        to gain access to it by sending it to oneself or a friend."""
        key = self.key_of(url)
        if key is None:
            return None
        if is_attachment(key) and not await self.may_read(user_id, key):
            return None
        return self._storage.url_for(key)
