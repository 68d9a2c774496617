"""``POST /api/contact``: the public contact form."""

from __future__ import annotations

from aiohttp import web

from chatr_server.api.handlers.widget import rate_limited
from chatr_server.api.openapi import doc
from chatr_server.api.request import read_body
from chatr_server.api.schemas.common import SuccessSchema
from chatr_server.api.schemas.widget import ContactRequestSchema
from chatr_server.appkeys import SERVICES
from chatr_server.util.jsonx import json_response


@doc(
    "Send the site owner a message",
    tags=["contact"],
    body=ContactRequestSchema,
    responses={
        200: SuccessSchema,
        400: "Name, email, and message are required.",
        429: "Rate limited",
        500: "Failed to send message. Please try again.",
    },
)
async def submit(request: web.Request) -> web.Response:
    headers = await rate_limited(request, "contact")
    body = await read_body(request)
    result = await request.app[SERVICES].contact.submit(body)
    return json_response(result, headers=headers)
