"""``/api/widget`` handlers (the support widget) and the static ``/widget/*`` bundle."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from chatr_server.api.multipart import FormRules, read_form
from chatr_server.api.openapi import doc
from chatr_server.api.request import client_address, read_body, require_user
from chatr_server.api.schemas.common import SuccessSchema
from chatr_server.api.schemas.widget import (
    GuestSessionRequestSchema,
    GuestSessionSchema,
    OfflineMessageRequestSchema,
    SupportAgentSchema,
    WidgetHistorySchema,
    WidgetUploadSchema,
)
from chatr_server.appkeys import SERVICES, SETTINGS
from chatr_server.errors import ServiceError
from chatr_server.integrations.storage import is_safe_key
from chatr_server.services.tokens import bearer_token
from chatr_server.services.widget import MAX_UPLOAD_BYTES, WidgetService
from chatr_server.util.jsonx import json_response

# Operators drop the original widget bundle (chatr.js, icons/) here.
WIDGET_DIR = Path(__file__).resolve().parent.parent.parent / "static" / "widget"
# Only the `file` part is kept; the rest of a long body is not read.
UPLOAD_FORM = FormRules(
    too_many_parts=None, slack=None, part_too_large="Form field too large", nested=None
)


def _widget(request: web.Request) -> WidgetService:
    return request.app[SERVICES].widget


async def rate_limited(request: web.Request, limit: str, key: str | None = None) -> dict[str, str]:
    """Count one request against ``limit`` for the client address (or ``key``); 429 when over.

    Returns the ``X-RateLimit-Remaining`` header for the response.
    """
    remaining = await request.app[SERVICES].rate_limiter.hit(limit, key or client_address(request))
    return {} if remaining is None else {"X-RateLimit-Remaining": str(remaining)}


async def _bearer_user_id(request: web.Request) -> str | None:
    """The user of a valid bearer token, if the request has one; never fails the request."""
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        return None
    try:
        user = await request.app[SERVICES].auth.authenticate(token)
    except ServiceError:
        return None
    return user.id


@doc(
    "The support agent the widget chats with",
    tags=["widget"],
    responses={200: SupportAgentSchema, 404: "No support agent configured"},
)
async def support_agent(request: web.Request) -> web.Response:
    return json_response(await _widget(request).support_agent())


@doc(
    "Start a guest session, or resume one with its resumeToken (or its guest JWT)",
    tags=["widget"],
    body=GuestSessionRequestSchema,
    responses={
        200: GuestSessionSchema,
        400: "guestName is required / invalid context",
        429: "Rate limited",
        503: "Support is currently unavailable",
    },
    description=(
        "A guestId without proof of ownership (resumeToken from the earlier response, "
        "or an `Authorization: Bearer <guest token>` for that guest) starts a new guest."
    ),
)
async def guest_session(request: web.Request) -> web.Response:
    headers = await rate_limited(request, "guest-session")
    body = await read_body(request)
    owner = await _bearer_user_id(request)
    return json_response(await _widget(request).guest_session(body, owner), headers=headers)


@doc(
    "The guest's conversation with the agent (first 100 messages)",
    tags=["widget"],
    auth=True,
    responses={200: WidgetHistorySchema, 403: "Not a guest session"},
)
async def history(request: web.Request) -> web.Response:
    user = await require_user(request, guests=True)
    return json_response(await _widget(request).history(user.id))


@doc(
    "Send the agent a file (multipart field `file`, ≤ 50 MB, DM types)",
    tags=["widget"],
    auth=True,
    upload="file",
    responses={
        200: WidgetUploadSchema,
        400: "No file uploaded",
        403: "Not a guest session",
        413: "File too large",
        415: "File type not allowed",
        503: "Support unavailable",
    },
)
async def upload(request: web.Request) -> web.Response:
    user = await require_user(request, guests=True)
    widget = _widget(request)
    guest = await widget.require_guest(user.id)
    file, _ = await read_form(request, "file", MAX_UPLOAD_BYTES, UPLOAD_FORM)
    return json_response(await widget.upload(guest, file))


@doc(
    "Leave the agent a message (creates a guest and an accepted conversation)",
    tags=["widget"],
    body=OfflineMessageRequestSchema,
    responses={
        200: SuccessSchema,
        400: "Name and message are required",
        429: "Rate limited",
        503: "Support is currently unavailable",
    },
)
async def offline_message(request: web.Request) -> web.Response:
    headers = await rate_limited(request, "offline-message")
    body = await read_body(request)
    return json_response(await _widget(request).offline_message(body), headers=headers)


@doc(
    "Tell the agent the guest has left",
    tags=["widget"],
    auth=True,
    responses={200: SuccessSchema, 403: "Not a guest session"},
)
async def end_chat(request: web.Request) -> web.Response:
    user = await require_user(request, guests=True)
    return json_response(await _widget(request).end_chat(user.id))


@doc(
    "The embeddable widget bundle (chatr.js, icons/*.svg)",
    tags=["static"],
    responses={200: "The file", 404: "Not found"},
    dependencies=False,
)
async def widget_file(request: web.Request) -> web.StreamResponse:
    rel = request.match_info.get("path", "")
    parts = rel.split("/")
    if not is_safe_key(rel) or any(p.startswith(".") for p in parts) or rel == "README.txt":
        raise web.HTTPNotFound()
    root = WIDGET_DIR.resolve()
    path = (root / rel).resolve()
    # resolve() follows symlinks: a link out of the folder is refused too.
    if not path.is_relative_to(root) or not path.is_file():
        raise web.HTTPNotFound()
    if request.app[SETTINGS].production:
        headers = {"Cache-Control": "public, max-age=300"}
    else:
        headers = {"Cache-Control": "no-store, no-cache, must-revalidate", "Pragma": "no-cache"}
    headers["Access-Control-Allow-Origin"] = "*"
    return web.FileResponse(path, headers=headers)
