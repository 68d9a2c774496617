"""``/api/messages`` handlers: DM history and waveform updates."""

from __future__ import annotations

from aiohttp import web

from chatr_server.api.openapi import doc
from chatr_server.api.request import read_body, read_query, require_user
from chatr_server.api.schemas.common import SuccessSchema
from chatr_server.api.schemas.messages import HistoryQuerySchema, HistorySchema, WaveformSchema
from chatr_server.appkeys import SERVICES
from chatr_server.util.jsonx import json_response


@doc(
    "A page of the caller's DMs with one user, oldest first; marks incoming ones read",
    tags=["messages"],
    auth=True,
    query=HistoryQuerySchema,
    responses={200: HistorySchema},
)
async def history(request: web.Request) -> web.Response:
    user = await require_user(request)
    query = read_query(request)
    result = await request.app[SERVICES].history.history(
        user.id, request.match_info["recipientId"], query.get("limit"), query.get("before")
    )
    return json_response(result)


@doc(
    "Replace an audio message's waveform (sender only); tells both participants",
    tags=["messages"],
    auth=True,
    body=WaveformSchema,
    responses={
        200: SuccessSchema,
        400: "waveform array required",
        403: "Access denied",
        404: "Message not found",
    },
)
async def set_waveform(request: web.Request) -> web.Response:
    user = await require_user(request)
    body = await read_body(request)
    await request.app[SERVICES].uploads.set_waveform(user.id, request.match_info["id"], body)
    return json_response({"success": True})
