"""Link previews (rest.md §11, behaviors.md §11).

oEmbed for the big media sites, otherwise the page's own metadata, fetched
through :class:`SafeFetcher` (SEC-10). Successful previews are cached in
process for an hour in a bounded LRU; failures are answered with a bare
preview (site name only) and not cached.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import quote

import orjson

from chatr_server.errors import bad_request
from chatr_server.integrations.linkpreview import (
    BlockedAddress,
    InvalidUrl,
    PreviewError,
    SafeFetcher,
    hostname_label,
    parse_preview,
)

log = logging.getLogger(__name__)

CACHE_TTL_S = 3600.0
CACHE_MAX_ENTRIES = 1000
MAX_CONCURRENT_FETCHES = 16
MAX_OEMBED_TEXT = 500
JSON_TYPES = frozenset({"application/json", "text/json", "text/javascript"})

# (URL pattern, endpoint, fallback provider name)
OEMBED_PROVIDERS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        re.compile(r"^https?://(www\.|m\.)?youtube\.com/watch", re.I),
        "https://www.youtube.com/oembed",
        "YouTube",
    ),
    (re.compile(r"^https?://youtu\.be/", re.I), "https://www.youtube.com/oembed", "YouTube"),
    (
        re.compile(r"^https?://(www\.)?vimeo\.com/\d+", re.I),
        "https://vimeo.com/api/oembed.json",
        "Vimeo",
    ),
    (
        re.compile(r"^https?://open\.spotify\.com/", re.I),
        "https://open.spotify.com/oembed",
        "Spotify",
    ),
    (
        re.compile(r"^https?://(www\.)?(twitter|x)\.com/", re.I),
        "https://publish.twitter.com/oembed",
        "X",
    ),
)


class PreviewCache:
    """A bounded LRU with a per-entry time to live."""

    def __init__(self, max_entries: int = CACHE_MAX_ENTRIES, ttl_s: float = CACHE_TTL_S) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._items: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> dict[str, Any] | None:
        item = self._items.get(key)
        if item is None:
            return None
        expires, value = item
        if expires < time.monotonic():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return dict(value)

    def put(self, key: str, value: dict[str, Any]) -> None:
        self._items[key] = (time.monotonic() + self.ttl_s, dict(value))
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = " ".join(value.split())
    return cleaned[:MAX_OEMBED_TEXT] or None


class LinkPreviewService:
    def __init__(
        self,
        fetcher: SafeFetcher | None = None,
        *,
        cache: PreviewCache | None = None,
        providers: tuple[tuple[re.Pattern[str], str, str], ...] = OEMBED_PROVIDERS,
    ) -> None:
        self.fetcher = fetcher or SafeFetcher()
        self.cache = cache or PreviewCache()
        self._providers = providers
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_FETCHES)

    async def preview(self, raw_url: Any) -> dict[str, Any]:
        if not isinstance(raw_url, str) or not raw_url.strip():
            raise bad_request("url query parameter is required")
        raw_url = raw_url.strip()
        try:
            url = self.fetcher.parse_url(raw_url)
        except InvalidUrl:
            raise bad_request("Invalid URL") from None
        cached = self.cache.get(raw_url)
        if cached is not None:
            return cached
        async with self._slots:
            try:
                # The target itself must be public even when oEmbed answers for it.
                await self.fetcher.vet_host(url)
                result = await self._oembed(raw_url) or await self._page(raw_url)
            except BlockedAddress:
                raise bad_request("Private URLs are not allowed") from None
            except PreviewError as exc:
                log.info("link preview failed: %s", exc)
                return self.empty(raw_url)
        self.cache.put(raw_url, result)
        return result

    @staticmethod
    def empty(raw_url: str) -> dict[str, Any]:
        return {
            "url": raw_url,
            "title": None,
            "description": None,
            "image": None,
            "siteName": hostname_label(raw_url),
            "favicon": None,
        }

    async def _oembed(self, raw_url: str) -> dict[str, Any] | None:
        provider = next((p for p in self._providers if p[0].match(raw_url)), None)
        if provider is None:
            return None
        _pattern, endpoint, fallback = provider
        try:
            page = await self.fetcher.fetch(
                f"{endpoint}?url={quote(raw_url, safe='')}&format=json", accept=JSON_TYPES
            )
            data = orjson.loads(page.body)
        except (PreviewError, orjson.JSONDecodeError):
            return None
        if not isinstance(data, dict):
            return None
        title = _text(data.get("title"))
        thumb = data.get("thumbnail_url")
        image = None
        if isinstance(thumb, str) and thumb.startswith(("https://", "http://")):
            image = thumb[:2048]
        if not title and not image:
            return None
        author = _text(data.get("author_name"))
        return {
            "url": raw_url,
            "title": title,
            "description": f"By {author}" if author else None,
            "image": image,
            "siteName": _text(data.get("provider_name")) or fallback,
            "favicon": None,
        }

    async def _page(self, raw_url: str) -> dict[str, Any]:
        page = await self.fetcher.fetch(raw_url)
        try:
            fields = await asyncio.to_thread(parse_preview, page.url, page.body, page.charset)
        except Exception as exc:  # a parser failure is a failed preview, not a 500
            raise PreviewError("unparsable page") from exc
        return {"url": raw_url, **fields}
