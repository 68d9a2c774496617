"""``GET /api/email-preview``: the account emails rendered in a browser (rest.md §8).

Public, so it is rate-limited per address (SEC-18); query values reach the
page only through the templates' autoescaping (the original reflected them
raw, SEC-16), and the page may not run scripts or load anything remote.
"""

from __future__ import annotations

from aiohttp import web

from chatr_server.api.handlers.auth import limit_headers
from chatr_server.api.openapi import doc
from chatr_server.api.request import read_query
from chatr_server.api.schemas.widget import EmailPreviewQuerySchema
from chatr_server.appkeys import SERVICES
from chatr_server.errors import ServiceError, bad_request
from chatr_server.services.notify import PREVIEW_TYPES

MAX_VALUE_LENGTH = 200
_VALUE_KEYS = ("code", "email", "username", "userId")
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'"


@doc(
    "Preview an account email as HTML",
    tags=["email"],
    query=EmailPreviewQuerySchema,
    responses={200: "text/html page", 400: "Unknown type or value too long", 429: "Rate limited"},
    dependencies=False,  # the rate limit fails open while Redis is down
)
async def email_preview(request: web.Request) -> web.Response:
    headers = await limit_headers(request, "email-preview")
    try:
        query = read_query(request)
        kind = query.get("type") or "verification"
        if kind not in PREVIEW_TYPES:
            raise bad_request("Invalid email type. Use: verification, login, or reset")
        values = {key: query.get(key) for key in _VALUE_KEYS}
        if any(len(value) > MAX_VALUE_LENGTH for value in values.values() if value):
            raise bad_request(f"Query values must be at most {MAX_VALUE_LENGTH} characters")
        theme = query.get("theme") or "light"
        simulate_dark = (query.get("simulateDark") or "").lower() in ("1", "true")
        notifier = request.app[SERVICES].notifier
        html = notifier.preview_html(kind, values, theme, simulate_dark)
    except ServiceError as exc:
        exc.headers = {**headers, **(exc.headers or {})}
        raise
    return web.Response(
        text=html,
        content_type="text/html",
        charset="utf-8",
        headers={**headers, "Content-Security-Policy": _CSP},
    )
