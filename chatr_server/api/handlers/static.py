"""``/uploads/*`` and ``/assets/*``: user files and public assets, served defensively.

Uploaded bytes are attacker-controlled, so a file is only ever sent with a
type its name *and* content agree on, never as HTML/SVG/script, with
``nosniff``, and as an attachment unless it is an image, audio, video or a PDF
(PDFs inline under a sandboxing Content-Security-Policy, for the client's preview).
Paths are resolved inside their root (no ``..``, no symlink escapes).

Profile and cover pictures are public with long caching. Message attachments
(``messages/``, ``audio/``) go only to their participants, by Bearer header or a
signed link (:mod:`chatr_server.services.attachments`), with private caching;
anyone else gets the same 404 as for a missing file, so a stranger cannot even
learn that a file exists.
"""

from __future__ import annotations

import asyncio
import io
import logging
import mimetypes
import os
import secrets
from pathlib import Path

from aiohttp import hdrs, web
from PIL import Image, ImageDraw

from chatr_server.api.request import require_user
from chatr_server.appkeys import SERVICES, SETTINGS
from chatr_server.errors import ServiceError, not_found
from chatr_server.integrations import media
from chatr_server.integrations.storage import content_disposition, is_safe_key
from chatr_server.services.attachments import is_attachment
from chatr_server.services.tokens import bearer_token
from chatr_server.services.uploads import safe_content_type

log = logging.getLogger(__name__)

SNIFF_BYTES = 8192
DEFAULT_PROFILE = "default-profile.jpg"
_INLINE_PREFIXES = ("image/", "audio/", "video/")

UPLOAD_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET",
    "Cross-Origin-Resource-Policy": "cross-origin",
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
}
# Attachments: Cache-Control is set per response (see _attachment).
ATTACHMENT_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET",
    "Cross-Origin-Resource-Policy": "cross-origin",
    "X-Content-Type-Options": "nosniff",
    "Vary": "Authorization",
}
ASSET_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Cross-Origin-Resource-Policy": "cross-origin",
    "Cache-Control": "public, max-age=86400",
    "X-Content-Type-Options": "nosniff",
}


def assets_dir(data_dir: Path) -> Path:
    return data_dir / "assets"


def resolve_inside(root: Path, relative: str) -> Path | None:
    """The regular file ``relative`` names under ``root``, or ``None``."""
    if not is_safe_key(relative):
        return None
    base = root.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


def _classify(path: Path) -> str:
    """The type to send: the extension's, confirmed by the content, else the content's."""
    by_name = mimetypes.guess_type(path.name, strict=False)[0]
    with path.open("rb") as fh:
        sniffed = media.sniff_mime(fh.read(SNIFF_BYTES))
    if by_name and sniffed and media.is_compatible(by_name, sniffed):
        chosen = by_name
    elif sniffed:
        chosen = sniffed
    elif by_name and not by_name.startswith(_INLINE_PREFIXES):
        # Formats the sniffer does not know (e.g. legacy .doc) keep their name's type,
        # but an unrecognised "image" is not trusted as one.
        chosen = by_name
    else:
        chosen = "application/octet-stream"
    return safe_content_type(chosen)


async def _serve(path: Path, headers: dict[str, str]) -> web.FileResponse:
    content_type = await asyncio.to_thread(_classify, path)
    out = dict(headers)
    out[hdrs.CONTENT_TYPE] = content_type
    inline = content_type.startswith(_INLINE_PREFIXES) and content_type != "image/svg+xml"
    if content_type == "application/pdf":
        # The web client previews PDFs from their /uploads URL. Shown inline, but in a
        # sandbox: no scripts, no same-origin access, whatever the file contains.
        out["Content-Security-Policy"] = "sandbox"
    elif not inline:
        out[hdrs.CONTENT_DISPOSITION] = content_disposition(path.name)
    return web.FileResponse(path, headers=out)


async def uploads(request: web.Request) -> web.StreamResponse:
    """``GET /uploads/<path>`` from ``UPLOADS_DIR``; attachments for participants only."""
    relative = request.match_info["path"]
    if is_attachment(relative):
        return await _attachment(request, relative)
    root = request.app[SETTINGS].uploads_dir
    path = await asyncio.to_thread(resolve_inside, root, relative)
    if path is None:
        raise not_found("Not found")
    return await _serve(path, UPLOAD_HEADERS)


async def _attachment(request: web.Request, key: str) -> web.StreamResponse:
    """A message attachment: a valid signed link, else a participant's Bearer header.

    A signed response may be cached privately for what is left of the link's life;
    one fetched with a header is revalidated every time (access can be lost).
    """
    if not is_safe_key(key):
        raise not_found("Not found")
    services = request.app[SERVICES]
    attachments = services.attachments
    max_age = attachments.verify(key, request.query.get("exp", ""), request.query.get("sig", ""))
    if max_age is not None:
        cache = f"private, max-age={max_age}"
    elif bearer_token(request.headers.get(hdrs.AUTHORIZATION)) is not None:
        # Guests too: a widget guest reads its own support thread's files, and
        # may_read refuses everything else.
        user = await require_user(request, guests=True)
        if not await attachments.may_read(user.id, key):
            raise not_found("Not found")
        max_age = attachments.ttl_s
        cache = "private, no-cache"
    else:
        raise not_found("Not found")
    headers = {**ATTACHMENT_HEADERS, "Cache-Control": cache}
    # Object storage: a presigned URL as long-lived as the access just granted.
    try:
        redirect = await services.storage.signed_url(key, key.rpartition("/")[2], max_age)
    except Exception:
        log.exception("signing an attachment URL failed")
        raise ServiceError(500, "Download failed") from None
    if redirect is not None:
        return web.Response(status=302, headers={**headers, hdrs.LOCATION: redirect})
    path = await asyncio.to_thread(resolve_inside, request.app[SETTINGS].uploads_dir, key)
    if path is None:
        raise not_found("Not found")
    return await _serve(path, headers)


async def assets(request: web.Request) -> web.StreamResponse:
    """``GET /assets/<path>`` from the data folder's generated assets."""
    root = assets_dir(request.app[SETTINGS].data_dir)
    path = await asyncio.to_thread(resolve_inside, root, request.match_info["path"])
    if path is None:
        raise not_found("Not found")
    return await _serve(path, ASSET_HEADERS)


def default_profile_jpeg(size: int = 256) -> bytes:
    """A neutral avatar: a grey head-and-shoulders silhouette on a light background."""
    image = Image.new("RGB", (size, size), (226, 229, 234))
    draw = ImageDraw.Draw(image)
    colour = (160, 166, 176)
    head = size * 0.19
    cx, cy = size / 2, size * 0.40
    draw.ellipse((cx - head, cy - head, cx + head, cy + head), fill=colour)
    draw.ellipse((size * 0.18, size * 0.66, size * 0.82, size * 1.25), fill=colour)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def write_default_assets(data_dir: Path) -> None:
    """Create ``assets/default-profile.jpg`` once (atomically, safe with several processes)."""
    folder = assets_dir(data_dir)
    target = folder / DEFAULT_PROFILE
    if target.is_file():
        return
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{DEFAULT_PROFILE}.{secrets.token_hex(4)}.tmp"
    try:
        tmp.write_bytes(default_profile_jpeg())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


async def prepare_assets(app: web.Application) -> None:
    """Start-up hook: make sure the public assets exist."""
    try:
        await asyncio.to_thread(write_default_assets, app[SETTINGS].data_dir)
    except OSError:
        log.exception("could not write the default assets")
