"""Link previews: the SSRF guard (SEC-10), parsing, caching, and the route (rest.md §11)."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket

import pytest
from aiohttp import web

from chatr_server.appkeys import SERVICES
from chatr_server.integrations.linkpreview import (
    BlockedAddress,
    InvalidUrl,
    PreviewError,
    SafeFetcher,
    is_blocked_hostname,
    is_public_ip,
    parse_preview,
    parse_url,
)
from tests.helpers import make_user

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"),)

PAGE = """<!doctype html><html><head>
<meta charset="utf-8">
<title>Fallback title</title>
<meta property="og:title" content="  The &amp; Title ">
<meta property="og:description" content="A page about things">
<meta property="og:image" content="/img/cover.png">
<meta property="og:site_name" content="Example Site">
<link rel="icon" href="/static/fav.png">
</head><body>hello</body></html>"""

TWITTER = """<html><head><title>T</title>
<meta name="twitter:title" content="Tw title">
<meta name="twitter:description" content="Tw desc">
<meta name="twitter:image" content="https://cdn.example/tw.jpg">
<link rel="apple-touch-icon" href="apple.png">
</head></html>"""


# ---- the address rules ------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.254",
        "0.0.0.0",
        "224.0.0.251",
        "255.255.255.255",
        "198.18.0.1",
        "192.0.2.10",
        "::1",
        "::",
        "fc00::1",
        "fd00:ec2::254",
        "fe80::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::1",
        "2001:db8::1",
        "not an ip",
    ],
)
def test_private_and_special_addresses_are_refused(address):
    assert is_public_ip(address) is False


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert is_public_ip(address) is True


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST.",
        "api.localhost",
        "2130706433",
        "0x7f000001",
        "0x7f.1",
        "0177.0.0.1",
        "127.1",
        "017700000001",
    ],
)
def test_numeric_spellings_and_localhost_are_refused_by_name(host):
    assert is_blocked_hostname(host) is True


@pytest.mark.parametrize("host", ["example.com", "123.example.com", "0x.dev", "1.2.3.4", "::1"])
def test_ordinary_names_are_not_refused_by_name(host):
    assert is_blocked_hostname(host) is False


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "gopher://example.com/",
        "http://user:pass@example.com/",
        "http://example.com:8080/",
        "https://example.com:22/",
        "http://",
        "example.com/no-scheme",
        "http://exa mple.com/",
        "https://example.com/" + "a" * 3000,
    ],
)
def test_urls_outside_the_rules_are_invalid(url):
    with pytest.raises(InvalidUrl):
        parse_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[fc00::1]/",
        "http://[fd12:3456::1]/",
        "http://100.64.0.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://localhost/",
        "http://0.0.0.0/",
    ],
)
async def test_default_fetcher_refuses_private_targets(url):
    with pytest.raises(BlockedAddress):
        await SafeFetcher().fetch(url)


async def test_default_fetcher_refuses_names_resolving_to_loopback():
    """A DNS answer pointing inside is refused (the check is on resolved addresses)."""
    names = ["localhost.localdomain", socket.gethostname(), "runsc", "vm"]
    loop = asyncio.get_running_loop()
    for name in names:
        if is_blocked_hostname(name):
            continue
        try:
            infos = await loop.getaddrinfo(name, 80)
        except OSError:
            continue
        if all(not is_public_ip(i[4][0]) for i in infos):
            with pytest.raises(BlockedAddress):
                await SafeFetcher().fetch(f"http://{name}/")
            return
    pytest.skip("no host name resolving to a private address on this machine")


# ---- a local web server -----------------------------------------------------------------


@pytest.fixture
async def site(aiohttp_server):
    hits: dict[str, int] = {}

    def counted(handler):
        async def wrapper(request):
            hits[request.path] = hits.get(request.path, 0) + 1
            return await handler(request)

        return wrapper

    port_holder: dict[str, int] = {}

    def redirect(target):
        async def handler(request):
            location = target.replace("PORT", str(port_holder["port"]))
            raise web.HTTPFound(location)

        return handler

    async def page(request):
        return web.Response(text=PAGE, content_type="text/html")

    async def twitter(request):
        return web.Response(text=TWITTER, content_type="text/html", charset="utf-8")

    async def latin1(request):
        body = "<html><head><title>Café crème</title></head></html>".encode("latin-1")
        return web.Response(body=body, headers={"Content-Type": "text/html; charset=iso-8859-1"})

    async def image(request):
        return web.Response(body=b"\x89PNG\r\n\x1a\n", content_type="image/png")

    async def slow(request):
        await asyncio.sleep(3)
        return web.Response(text=PAGE, content_type="text/html")

    async def big(request):
        filler = "<!-- " + "x" * (2 * 1024 * 1024) + " -->"
        return web.Response(
            text=PAGE.replace("<body>", "<body>" + filler), content_type="text/html"
        )

    async def late_title(request):
        filler = "<!-- " + "x" * (700 * 1024) + " -->"
        return web.Response(
            text=f"<html><head>{filler}<title>Too late</title></head></html>",
            content_type="text/html",
        )

    async def hostile(request):
        return web.Response(
            text='<html><head><meta property="og:image" content="javascript:alert(1)">'
            '<link rel="icon" href="data:image/png;base64,AAAA"></head></html>',
            content_type="text/html",
        )

    async def not_found(request):
        return web.Response(status=404, text="nope", content_type="text/html")

    async def oembed(request):
        assert request.query["format"] == "json"
        return web.json_response(
            {
                "title": "A video",
                "author_name": "Someone",
                "thumbnail_url": "https://i.example/thumb.jpg",
                "provider_name": "YouTube",
                "target": request.query["url"],
            }
        )

    app = web.Application()
    routes = {
        "/page": page,
        "/twitter": twitter,
        "/latin1": latin1,
        "/image": image,
        "/slow": slow,
        "/big": big,
        "/late-title": late_title,
        "/hostile": hostile,
        "/missing": not_found,
        "/oembed": oembed,
        "/r1": redirect("/r2"),
        "/r2": redirect("/r3"),
        "/r3": redirect("/page"),
        "/r0": redirect("/r1"),
        "/to-metadata": redirect("http://169.254.169.254/latest/meta-data/"),
        "/to-ten": redirect("http://10.0.0.1:PORT/page"),
        "/to-v6": redirect("http://[::1]:PORT/page"),
        "/to-localhost": redirect("http://localhost:PORT/page"),
        "/to-other-loopback": redirect("http://127.0.0.2:PORT/page"),
        "/to-decimal": redirect("http://2130706433:PORT/page"),
        "/to-ftp": redirect("ftp://127.0.0.1/x"),
        "/to-port": redirect("http://127.0.0.1:1/page"),
    }
    for path, handler in routes.items():
        app.router.add_get(path, counted(handler))
    server = await aiohttp_server(app, host="127.0.0.1")
    port_holder["port"] = server.port
    server.hits = hits
    server.base = f"http://127.0.0.1:{server.port}"
    server.fetcher = SafeFetcher(
        allow_networks=LOOPBACK, allowed_ports=frozenset({80, 443, server.port})
    )
    return server


async def test_default_fetcher_refuses_the_local_server(site):
    with pytest.raises((BlockedAddress, InvalidUrl)):
        await SafeFetcher().fetch(site.base + "/page")
    with pytest.raises(BlockedAddress):
        await SafeFetcher(allowed_ports=frozenset({site.port})).fetch(site.base + "/page")
    assert site.hits == {}


async def test_allowed_fetch_and_parse(site):
    page = await site.fetcher.fetch(site.base + "/page")
    assert page.content_type == "text/html"
    fields = parse_preview(page.url, page.body, page.charset)
    assert fields == {
        "title": "The & Title",
        "description": "A page about things",
        "image": site.base + "/img/cover.png",
        "siteName": "Example Site",
        "favicon": site.base + "/static/fav.png",
    }


async def test_twitter_fallbacks_and_apple_icon(site):
    page = await site.fetcher.fetch(site.base + "/twitter")
    fields = parse_preview(page.url, page.body, page.charset)
    assert fields["title"] == "Tw title"
    assert fields["description"] == "Tw desc"
    assert fields["image"] == "https://cdn.example/tw.jpg"
    assert fields["siteName"] == "127.0.0.1"
    assert fields["favicon"] == site.base + "/apple.png"


async def test_declared_charset_is_honoured(site):
    page = await site.fetcher.fetch(site.base + "/latin1")
    assert parse_preview(page.url, page.body, page.charset)["title"] == "Café crème"


def test_parse_defaults_and_hostile_links():
    fields = parse_preview(
        "https://www.example.org/a", b"<html><head><title> Just\n a title </title></head></html>"
    )
    assert fields == {
        "title": "Just a title",
        "description": None,
        "image": None,
        "siteName": "example.org",
        "favicon": "https://www.example.org/favicon.ico",
    }


async def test_script_urls_are_never_returned(site):
    page = await site.fetcher.fetch(site.base + "/hostile")
    fields = parse_preview(page.url, page.body, page.charset)
    assert fields["image"] is None
    assert fields["favicon"] == site.base + "/favicon.ico"


async def test_three_redirects_are_followed_four_are_not(site):
    page = await site.fetcher.fetch(site.base + "/r1")
    assert page.url == site.base + "/page"
    with pytest.raises(PreviewError):
        await site.fetcher.fetch(site.base + "/r0")
    assert "/page" in site.hits


@pytest.mark.parametrize(
    "path",
    [
        "/to-metadata",
        "/to-ten",
        "/to-v6",
        "/to-localhost",
        "/to-other-loopback",
        "/to-decimal",
    ],
)
async def test_redirects_into_private_space_are_refused(site, path):
    with pytest.raises(BlockedAddress):
        await site.fetcher.fetch(site.base + path)


@pytest.mark.parametrize("path", ["/to-ftp", "/to-port"])
async def test_redirects_to_other_schemes_or_ports_are_refused(site, path):
    with pytest.raises(InvalidUrl):
        await site.fetcher.fetch(site.base + path)


async def test_non_html_and_errors_are_refused(site):
    with pytest.raises(PreviewError):
        await site.fetcher.fetch(site.base + "/image")
    with pytest.raises(PreviewError):
        await site.fetcher.fetch(site.base + "/missing")


async def test_total_time_is_capped(site):
    fetcher = SafeFetcher(
        allow_networks=LOOPBACK, allowed_ports=frozenset({site.port}), timeout_s=0.5
    )
    started = asyncio.get_running_loop().time()
    with pytest.raises(PreviewError):
        await fetcher.fetch(site.base + "/slow")
    assert asyncio.get_running_loop().time() - started < 2


async def test_bytes_read_are_capped(site):
    page = await site.fetcher.fetch(site.base + "/big")
    assert len(page.body) <= 512 * 1024
    assert parse_preview(page.url, page.body)["title"] == "The & Title"
    page = await site.fetcher.fetch(site.base + "/late-title")
    assert parse_preview(page.url, page.body)["title"] is None


# ---- the service and its cache ----------------------------------------------------------


def test_cache_is_bounded_and_expires():
    from chatr_server.services.linkpreview import PreviewCache

    cache = PreviewCache(max_entries=2, ttl_s=60)
    cache.put("a", {"url": "a"})
    cache.put("b", {"url": "b"})
    assert cache.get("a") == {"url": "a"}  # a is now the most recent
    cache.put("c", {"url": "c"})
    assert cache.get("b") is None and len(cache) == 2
    expired = PreviewCache(max_entries=2, ttl_s=-1)
    expired.put("x", {"url": "x"})
    assert expired.get("x") is None


def _install(client, site, **kwargs):
    from chatr_server.services.linkpreview import LinkPreviewService

    service = LinkPreviewService(site.fetcher, **kwargs)
    client.app[SERVICES].linkpreview = service
    return service


async def test_route_requires_auth(client):
    resp = await client.get("/api/link-preview?url=https://example.com/")
    assert resp.status == 401
    assert await resp.json() == {"error": "Access token required"}


async def test_route_validates_the_url(client):
    user = await make_user(client)
    resp = await client.get("/api/link-preview", headers=user.auth)
    assert resp.status == 400
    assert await resp.json() == {"error": "url query parameter is required"}
    for bad in ("not a url", "ftp://example.com/x", "http://example.com:8080/"):
        resp = await client.get("/api/link-preview", params={"url": bad}, headers=user.auth)
        assert resp.status == 400
        assert await resp.json() == {"error": "Invalid URL"}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://10.1.2.3/admin",
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://[::1]/",
        "http://[fc00::5]/",
        "http://100.64.3.4/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://localhost/",
        "http://[::ffff:169.254.169.254]/",
    ],
)
async def test_route_refuses_private_urls_by_default(client, url):
    user = await make_user(client)
    resp = await client.get("/api/link-preview", params={"url": url}, headers=user.auth)
    assert resp.status == 400
    assert await resp.json() == {"error": "Private URLs are not allowed"}


async def test_route_previews_and_caches(client, site):
    user = await make_user(client)
    _install(client, site)
    url = site.base + "/page"
    for _ in range(2):
        resp = await client.get("/api/link-preview", params={"url": url}, headers=user.auth)
        assert resp.status == 200
        assert await resp.json() == {
            "url": url,
            "title": "The & Title",
            "description": "A page about things",
            "image": site.base + "/img/cover.png",
            "siteName": "Example Site",
            "favicon": site.base + "/static/fav.png",
        }
    assert site.hits["/page"] == 1


async def test_route_failure_is_a_bare_preview_and_not_cached(client, site):
    user = await make_user(client)
    service = _install(client, site)
    url = site.base + "/image"
    for _ in range(2):
        resp = await client.get("/api/link-preview", params={"url": url}, headers=user.auth)
        assert resp.status == 200
        assert await resp.json() == {
            "url": url,
            "title": None,
            "description": None,
            "image": None,
            "siteName": "127.0.0.1",
            "favicon": None,
        }
    assert site.hits["/image"] == 2
    assert len(service.cache) == 0


async def test_route_refuses_redirect_into_private_space(client, site):
    user = await make_user(client)
    _install(client, site)
    resp = await client.get(
        "/api/link-preview", params={"url": site.base + "/to-metadata"}, headers=user.auth
    )
    assert resp.status == 400
    assert await resp.json() == {"error": "Private URLs are not allowed"}


async def test_oembed_providers_are_used_for_known_sites(client, site):
    user = await make_user(client)
    providers = ((re.compile(r"^http://127\.0\.0\.1:\d+/watch"), site.base + "/oembed", "Tube"),)
    _install(client, site, providers=providers)
    url = site.base + "/watch?v=abc"
    resp = await client.get("/api/link-preview", params={"url": url}, headers=user.auth)
    assert await resp.json() == {
        "url": url,
        "title": "A video",
        "description": "By Someone",
        "image": "https://i.example/thumb.jpg",
        "siteName": "YouTube",
        "favicon": None,
    }
    assert site.hits["/oembed"] == 1


async def test_link_preview_is_rate_limited_per_user(make_client, site):
    limited = await make_client(rate_limits_enabled=True)
    user = await make_user(limited)  # needs the bypass code: test mode stays allowed
    await limited.post("/api/test/mode", json={"enabled": False})
    try:
        _install(limited, site)
        url = site.base + "/page"
        statuses = [
            (await limited.get("/api/link-preview", params={"url": url}, headers=user.auth)).status
            for _ in range(61)
        ]
    finally:
        await limited.post("/api/test/mode", json={"enabled": True})
    assert statuses[:60] == [200] * 60
    assert statuses[60] == 429
