"""``GET /``: a small page telling whoever opens the server's address what it is.

It names the product and version and links the operator endpoints; it shows
nothing from the configuration beyond the product name.
"""

from __future__ import annotations

from html import escape

from aiohttp import web

from chatr_server import __version__
from chatr_server.appkeys import SETTINGS

LINKS = (
    ("/api/docs", "API documentation"),
    ("/api/health", "Health"),
    ("/api/health/ready", "Readiness"),
    ("/metrics", "Metrics (Prometheus)"),
)


def render(product_name: str) -> str:
    name = escape(product_name)
    items = "\n".join(
        f'    <li><a href="{href}">{label}</a> <code>{href}</code></li>' for href, label in LINKS
    )
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{name} server {__version__}</title>
</head>
<body>
  <h1>{name} server</h1>
  <p>Version {__version__}. This address serves the {name} REST API and Socket.IO endpoint.</p>
  <ul>
{items}
  </ul>
</body>
</html>
"""


async def index(request: web.Request) -> web.Response:
    return web.Response(
        text=render(request.app[SETTINGS].product_name),
        content_type="text/html",
        headers={"Content-Security-Policy": "default-src 'none'", "Cache-Control": "no-cache"},
    )
