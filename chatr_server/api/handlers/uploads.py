"""Multipart upload routes and the DM download route.

Bodies are read part by part and every part is capped while it streams, so an
oversized upload is refused (413) after at most its cap in memory, never after
buffering it whole. The app-wide ``client_max_size`` does not apply here.
"""

from __future__ import annotations

from aiohttp import BodyPartReader, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from chatr_server.api.openapi import doc
from chatr_server.api.request import bearer_token, require_user
from chatr_server.api.schemas.directory import ImageDeletedSchema, ImageUrlSchema
from chatr_server.api.schemas.messages import DownloadLinkSchema, UploadResultSchema
from chatr_server.appkeys import SERVICES
from chatr_server.errors import ServiceError, bad_request
from chatr_server.integrations.storage import content_disposition
from chatr_server.services.uploads import (
    MAX_COVER_IMAGE,
    MAX_MESSAGE_FILE,
    MAX_PROFILE_IMAGE,
    UploadedFile,
)
from chatr_server.util.jsonx import json_response

CHUNK = 64 * 1024
MAX_PARTS = 16
# Room for part headers and the small text fields next to the file.
FORM_OVERHEAD = 256 * 1024
# Unknown parts are read (and dropped) up to this size.
MAX_OTHER_PART = 64 * 1024
# What aiohttp's multipart reader raises on a broken body.
_MALFORMED = (ValueError, KeyError, AssertionError, HttpProcessingError)
MESSAGE_FIELDS = {
    "recipientId": 256,
    "type": 64,
    "waveform": 64 * 1024,
    "duration": 64,
    "caption": 64 * 1024,
}


def _too_large(limit: int) -> ServiceError:
    return ServiceError(413, f"File too large (max {limit // (1024 * 1024)} MB)")


async def _read_capped(part: BodyPartReader, limit: int, error: ServiceError) -> bytes:
    buffer = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        buffer += chunk
        if len(buffer) > limit:
            raise error
    return bytes(buffer)


async def read_form(
    request: web.Request, file_field: str, max_file: int, text_fields: dict[str, int] | None = None
) -> tuple[UploadedFile | None, dict[str, str]]:
    """The first file part named ``file_field`` and the listed text fields."""
    text_fields = text_fields or {}
    overall = max_file + FORM_OVERHEAD
    if request.content_length is not None and request.content_length > overall:
        raise _too_large(max_file)
    if request.content_type != "multipart/form-data":
        raise bad_request("No file uploaded")
    try:
        return await _parse_parts(request, file_field, max_file, text_fields)
    except _MALFORMED:
        raise bad_request("Malformed multipart body") from None


async def _parse_parts(
    request: web.Request, file_field: str, max_file: int, text_fields: dict[str, int]
) -> tuple[UploadedFile | None, dict[str, str]]:
    reader = await request.multipart()
    upload: UploadedFile | None = None
    fields: dict[str, str] = {}
    for _ in range(MAX_PARTS):
        part = await reader.next()
        if part is None:
            return upload, fields
        if not isinstance(part, BodyPartReader):
            raise bad_request("Nested multipart bodies are not supported")
        name = part.name
        if name == file_field and part.filename is not None and upload is None:
            data = await _read_capped(part, max_file, _too_large(max_file))
            declared = part.headers.get(hdrs.CONTENT_TYPE, "")
            upload = UploadedFile(part.filename, declared, data)
        elif name in text_fields and part.filename is None and name not in fields:
            raw = await _read_capped(part, text_fields[name], bad_request(f"{name} is too long"))
            fields[name] = raw.decode("utf-8", errors="replace")
        else:
            await _read_capped(part, MAX_OTHER_PART, ServiceError(413, "Form part too large"))
    raise bad_request(f"Too many form parts (max {MAX_PARTS})")


@doc(
    "Upload a DM attachment (multipart: file, recipientId, type?, waveform?, duration?, caption?)",
    tags=["messages"],
    auth=True,
    description=(
        "Creates the message (status sent) and the pair's conversation row; the client then "
        "emits message:send with the messageId. 50 MB cap; the MIME type (parameters stripped) "
        "must be allowed and match the file's content."
    ),
    responses={
        200: UploadResultSchema,
        400: "No file uploaded / Recipient ID required",
        403: "Blocked",
        404: "Recipient not found",
        413: "Too large",
        415: "Type not allowed",
    },
)
async def upload_message_file(request: web.Request) -> web.Response:
    user = await require_user(request)
    upload, fields = await read_form(request, "file", MAX_MESSAGE_FILE, MESSAGE_FIELDS)
    result = await request.app[SERVICES].uploads.upload_message_file(user.id, upload, fields)
    return json_response(result)


@doc(
    "Download a DM attachment (participants; Bearer header or a signed ?token=)",
    tags=["messages"],
    auth=True,
    query={"token": "signed link from /api/messages/download/{messageId}/link"},
    description=(
        "Local storage streams the file as an attachment; object storage redirects to a "
        "short-lived presigned URL. Plain <a href> links (no Authorization header) work with "
        "the token query parameter, valid for 5 minutes."
    ),
    responses={
        200: "The file",
        302: "Presigned object-store URL",
        401: "Access token required",
        403: "Access denied",
        404: "File not found",
    },
)
async def download(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    user_id = None
    if bearer_token(request.headers.get(hdrs.AUTHORIZATION)) is not None:
        user_id = (await require_user(request)).id
    token = request.query.get("token")
    if user_id is None and not token:
        raise ServiceError(401, "Access token required")
    target = await services.uploads.download(user_id, request.match_info["messageId"], token)
    headers = {
        "Access-Control-Allow-Origin": "*",
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if target.redirect_url is not None:
        return web.Response(status=302, headers={**headers, hdrs.LOCATION: target.redirect_url})
    assert target.path is not None
    headers[hdrs.CONTENT_TYPE] = target.content_type
    headers[hdrs.CONTENT_DISPOSITION] = content_disposition(target.filename)
    return web.FileResponse(target.path, headers=headers)


@doc(
    "A short-lived signed download URL for a plain link (participants only)",
    tags=["messages"],
    auth=True,
    responses={200: DownloadLinkSchema, 403: "Access denied", 404: "File not found"},
)
async def download_link(request: web.Request) -> web.Response:
    user = await require_user(request)
    result = await request.app[SERVICES].uploads.download_link(
        user.id, request.match_info["messageId"]
    )
    return json_response(result)


@doc(
    "Set the profile picture (multipart field profileImage, ≤ 5 MB, JPEG/PNG/WebP)",
    tags=["users"],
    auth=True,
    responses={200: ImageUrlSchema, 400: "No file uploaded", 413: "Too large", 415: "Bad type"},
)
async def upload_profile_image(request: web.Request) -> web.Response:
    user = await require_user(request)
    upload, _ = await read_form(request, "profileImage", MAX_PROFILE_IMAGE)
    return json_response(await request.app[SERVICES].uploads.set_profile_image(user.id, upload))


@doc(
    "Set the cover picture (multipart field coverImage, ≤ 10 MB, JPEG/PNG/WebP)",
    tags=["users"],
    auth=True,
    responses={200: ImageUrlSchema, 400: "No file uploaded", 413: "Too large", 415: "Bad type"},
)
async def upload_cover_image(request: web.Request) -> web.Response:
    user = await require_user(request)
    upload, _ = await read_form(request, "coverImage", MAX_COVER_IMAGE)
    return json_response(await request.app[SERVICES].uploads.set_cover_image(user.id, upload))


@doc(
    "Remove the profile picture",
    tags=["users"],
    auth=True,
    responses={200: ImageDeletedSchema},
)
async def delete_profile_image(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await request.app[SERVICES].uploads.delete_profile_image(user.id))


@doc(
    "Remove the cover picture",
    tags=["users"],
    auth=True,
    responses={200: ImageDeletedSchema},
)
async def delete_cover_image(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await request.app[SERVICES].uploads.delete_cover_image(user.id))
