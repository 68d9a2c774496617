"""``/api/admin`` handlers: the support agent's inbox of widget guests."""

from __future__ import annotations

from aiohttp import web

from chatr_server.api.openapi import doc
from chatr_server.api.request import read_body, require_user
from chatr_server.api.schemas.admin import (
    GuestConversationSchema,
    ReplyRequestSchema,
    ReplySchema,
    WidgetContactSchema,
)
from chatr_server.api.schemas.common import SuccessSchema
from chatr_server.appkeys import SERVICES
from chatr_server.services.admin import AdminService
from chatr_server.util.jsonx import json_response

_DENIED = {403: "Support access required"}


async def _support(request: web.Request) -> tuple[AdminService, str]:
    """The admin service and the caller, once the caller is known to be the agent."""
    user = await require_user(request)
    admin = request.app[SERVICES].admin
    await admin.require_support(user.id)
    return admin, user.id


@doc(
    "Every widget guest, newest first (a bare array)",
    tags=["admin"],
    auth=True,
    responses={200: [WidgetContactSchema], **_DENIED},
)
async def widget_contacts(request: web.Request) -> web.Response:
    admin, _ = await _support(request)
    return json_response(await admin.contacts())


@doc(
    "A guest's details and every message to or from them",
    tags=["admin"],
    auth=True,
    responses={200: GuestConversationSchema, **_DENIED, 404: "Guest not found"},
)
async def guest_messages(request: web.Request) -> web.Response:
    admin, _ = await _support(request)
    return json_response(await admin.guest_messages(request.match_info["guestId"]))


@doc(
    "Delete a guest with their messages and conversations",
    tags=["admin"],
    auth=True,
    responses={200: SuccessSchema, **_DENIED, 404: "Guest not found"},
)
async def delete_guest(request: web.Request) -> web.Response:
    admin, _ = await _support(request)
    return json_response(await admin.delete_guest(request.match_info["guestId"]))


@doc(
    "Reply to a guest as the agent",
    tags=["admin"],
    auth=True,
    body=ReplyRequestSchema,
    responses={
        200: ReplySchema,
        400: "Message content is required",
        **_DENIED,
        404: "Guest not found",
    },
)
async def reply(request: web.Request) -> web.Response:
    admin, user_id = await _support(request)
    body = await read_body(request)
    result = await admin.reply(user_id, request.match_info["guestId"], body.get("content"))
    return json_response(result)
