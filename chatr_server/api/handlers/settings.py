"""``PUT /api/users/me/settings``: privacy levels (rest.md §3)."""

from __future__ import annotations

from aiohttp import web

from chatr_server.api.openapi import doc
from chatr_server.api.request import read_body, require_user
from chatr_server.api.schemas.common import OkSchema
from chatr_server.api.schemas.social import PrivacySettingsSchema
from chatr_server.appkeys import SERVICES
from chatr_server.util.jsonx import json_response


@doc(
    "Change privacy settings (invalid keys and values are ignored)",
    tags=["users"],
    auth=True,
    body=PrivacySettingsSchema,
    responses={200: OkSchema, 400: "No valid settings provided"},
)
async def update_settings(request: web.Request) -> web.Response:
    user = await require_user(request)
    body = await read_body(request)
    return json_response(await request.app[SERVICES].social.update_privacy(user.id, body))
