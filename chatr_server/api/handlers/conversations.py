"""``/api/conversations`` handlers (rest.md §6): message-request accept, decline and nukes."""

from __future__ import annotations

from aiohttp import web

from chatr_server.api.openapi import doc
from chatr_server.api.request import require_user
from chatr_server.api.schemas.common import SuccessSchema
from chatr_server.api.schemas.social import ConversationResultSchema
from chatr_server.appkeys import SERVICES
from chatr_server.services.conversations import DENIED as _DENIED
from chatr_server.util.jsonx import json_response


@doc(
    "Accept a message request",
    tags=["conversations"],
    auth=True,
    responses={200: ConversationResultSchema, 403: _DENIED},
)
async def accept(request: web.Request) -> web.Response:
    user = await require_user(request)
    cid = request.match_info["id"]
    return json_response(await request.app[SERVICES].conversations.accept(user.id, cid))


@doc(
    "Decline a message request (deletes the pair's messages)",
    tags=["conversations"],
    auth=True,
    responses={200: SuccessSchema, 403: _DENIED},
)
async def decline(request: web.Request) -> web.Response:
    user = await require_user(request)
    cid = request.match_info["id"]
    return json_response(await request.app[SERVICES].conversations.decline(user.id, cid))


@doc(
    "Delete a conversation and all its messages (either participant)",
    tags=["conversations"],
    auth=True,
    responses={200: SuccessSchema, 403: _DENIED},
)
async def nuke(request: web.Request) -> web.Response:
    user = await require_user(request)
    cid = request.match_info["id"]
    return json_response(await request.app[SERVICES].conversations.nuke(user.id, cid))


@doc(
    "Delete every message with a user, with or without a conversation row",
    tags=["conversations"],
    auth=True,
    responses={200: SuccessSchema, 400: "Invalid recipient id"},
)
async def nuke_by_user(request: web.Request) -> web.Response:
    user = await require_user(request)
    other = request.match_info["recipientId"]
    return json_response(await request.app[SERVICES].conversations.nuke_by_user(user.id, other))
