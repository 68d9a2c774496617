"""Multipart upload routes and the DM download route.

Bodies are streamed with a size cap by :mod:`chatr_server.api.multipart`.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from chatr_server.api.multipart import FormRules, read_form
from chatr_server.api.openapi import doc
from chatr_server.api.request import read_query, require_user
from chatr_server.api.schemas.common import ImageUrlSchema
from chatr_server.api.schemas.directory import ImageDeletedSchema
from chatr_server.api.schemas.messages import (
    DownloadLinkSchema,
    DownloadQuerySchema,
    UploadResultSchema,
)
from chatr_server.appkeys import SERVICES
from chatr_server.errors import ServiceError
from chatr_server.integrations.storage import content_disposition
from chatr_server.services.tokens import bearer_token
from chatr_server.services.uploads import (
    MAX_COVER_IMAGE,
    MAX_MESSAGE_FILE,
    MAX_PROFILE_IMAGE,
)
from chatr_server.util.jsonx import json_response

MESSAGE_FORM = FormRules(
    fields={
        "recipientId": 256,
        "type": 64,
        "waveform": 64 * 1024,
        "duration": 64,
        "caption": 64 * 1024,
    }
)
IMAGE_FORM = FormRules()


@doc(
    "Upload a DM attachment (multipart: file, recipientId, type?, waveform?, duration?, caption?)",
    tags=["messages"],
    auth=True,
    upload="file",
    form={
        "recipientId": "the other user's id",
        "type": "message type (default from the file)",
        "waveform": "JSON array of amplitudes (voice notes)",
        "duration": "seconds (voice notes)",
        "caption": "text shown with the file",
    },
    required=("recipientId",),
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
    upload, fields = await read_form(request, "file", MAX_MESSAGE_FILE, MESSAGE_FORM)
    result = await request.app[SERVICES].uploads.upload_message_file(user.id, upload, fields)
    return json_response(result)


@doc(
    "Download a DM attachment (participants; Bearer header or a signed ?token=)",
    tags=["messages"],
    auth=True,
    query=DownloadQuerySchema,
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
        # Guests too: the agent's attachments in their support conversation.
        user_id = (await require_user(request, guests=True)).id
    token = read_query(request).get("token")
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
    user = await require_user(request, guests=True)
    result = await request.app[SERVICES].uploads.download_link(
        user.id, request.match_info["messageId"]
    )
    return json_response(result)


@doc(
    "Set the profile picture (multipart field profileImage, ≤ 5 MB, JPEG/PNG/WebP)",
    tags=["users"],
    auth=True,
    upload="profileImage",
    responses={200: ImageUrlSchema, 400: "No file uploaded", 413: "Too large", 415: "Bad type"},
)
async def upload_profile_image(request: web.Request) -> web.Response:
    user = await require_user(request)
    upload, _ = await read_form(request, "profileImage", MAX_PROFILE_IMAGE, IMAGE_FORM)
    return json_response(await request.app[SERVICES].uploads.set_profile_image(user.id, upload))


@doc(
    "Set the cover picture (multipart field coverImage, ≤ 10 MB, JPEG/PNG/WebP)",
    tags=["users"],
    auth=True,
    upload="coverImage",
    responses={200: ImageUrlSchema, 400: "No file uploaded", 413: "Too large", 415: "Bad type"},
)
async def upload_cover_image(request: web.Request) -> web.Response:
    user = await require_user(request)
    upload, _ = await read_form(request, "coverImage", MAX_COVER_IMAGE, IMAGE_FORM)
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
