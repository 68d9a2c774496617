"""``GET /metrics``: the node's Prometheus metrics (chatr_server/metrics.py).

Open in development. In production it needs ``Authorization: Bearer
<METRICS_TOKEN>``, and without a configured token it does not exist (404):
connection counts and request rates are operational data, not public.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from chatr_server.appkeys import METRICS, SETTINGS
from chatr_server.util.jsonx import error_response


def _authorized(request: web.Request, token: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


async def metrics(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if settings.production:
        if not settings.metrics_token:
            return error_response("Not found", 404)
        if not _authorized(request, settings.metrics_token):
            return web.Response(
                status=401, text="Unauthorized", headers={"WWW-Authenticate": "Bearer"}
            )
    registry = request.app[METRICS]
    await registry.probe()
    registry.refresh()
    body, content_type = registry.render(request.headers.get("Accept"))
    return web.Response(body=body, headers={"Content-Type": content_type})
