"""``GET /``: the landing page names the server and links the operator endpoints."""

from __future__ import annotations

import re

from chatr_server import __version__


async def test_landing_page_names_version_and_links(client, base_settings):
    resp = await client.get("/")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    page = await resp.text()
    assert "<title>Chatr server " + __version__ + "</title>" in page
    hrefs = re.findall(r'href="([^"]+)"', page)
    assert hrefs == ["/api/docs", "/api/health", "/api/health/ready", "/metrics"]
    # Nothing from the configuration beyond the product name.
    assert base_settings.jwt_secret not in page
    assert base_settings.database_url not in page
    assert str(base_settings.data_dir) not in page
    assert "<script" not in page
    assert resp.headers["Content-Security-Policy"] == "default-src 'none'"
    head = await client.head("/")
    assert head.status == 200


async def test_landing_page_escapes_the_product_name(make_client):
    client = await make_client(product_name='<b onclick="x">Chat & co</b>')
    page = await (await client.get("/")).text()
    assert "&lt;b onclick=&quot;x&quot;&gt;Chat &amp; co&lt;/b&gt; server" in page
    assert "<b onclick" not in page


async def test_only_get_and_head(client):
    resp = await client.post("/")
    assert resp.status == 405
    assert await resp.json() == {"error": "Method not allowed"}
