"""``GET /api/link-preview?url=``."""

from __future__ import annotations

from aiohttp import web

from chatr_server.api.handlers.widget import rate_limited
from chatr_server.api.openapi import doc
from chatr_server.api.request import read_query, require_user
from chatr_server.api.schemas.widget import LinkPreviewQuerySchema, LinkPreviewSchema
from chatr_server.appkeys import SERVICES
from chatr_server.util.jsonx import json_response


@doc(
    "Title, description, image, site name and favicon of a public web page",
    tags=["messages"],
    auth=True,
    query=LinkPreviewQuerySchema,
    responses={
        200: LinkPreviewSchema,
        400: "url query parameter is required / Invalid URL / Private URLs are not allowed",
        429: "Rate limited",
    },
)
async def link_preview(request: web.Request) -> web.Response:
    user = await require_user(request)
    # Each preview makes the server fetch a page: bounded per user.
    headers = await rate_limited(request, "link-preview", key=f"user:{user.id}")
    result = await request.app[SERVICES].linkpreview.preview(read_query(request)["url"])
    return json_response(result, headers=headers)
