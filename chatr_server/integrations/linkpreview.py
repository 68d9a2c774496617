"""Fetching pages for link previews without becoming an SSRF proxy (SEC-10).

:class:`SafeFetcher` only talks to public addresses:

* http/https only, ports 80/443 only, no credentials in the URL;
* the host is resolved once, and *every* address it resolves to must be
  public (not private, loopback, link-local, CGNAT, multicast, reserved,
  unique-local, documentation, or an IPv4 address embedded in IPv6);
* the connection goes to exactly those vetted addresses (a pinned resolver),
  so a second DNS answer cannot swap in an internal address (rebinding);
* redirects are followed by hand, at most three, each re-vetted;
* at most ``max_bytes`` are read and the whole fetch has one deadline.

:func:`parse_preview` turns HTML into the contract's LinkPreview fields with
selectolax (lexbor).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from selectolax.lexbor import LexborHTMLParser
from yarl import URL

MAX_URL_CHARS = 2048
MAX_TEXT_CHARS = 500
MAX_DESCRIPTION_CHARS = 1000
DEFAULT_MAX_BYTES = 512 * 1024
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MAX_REDIRECTS = 3
ALLOWED_PORTS = frozenset({80, 443})
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
USER_AGENT = (
    "Mozilla/5.0 (compatible; ChatrLinkPreview/1.0; +https://chatr.example/bot) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
)

# Ranges no preview may reach. ``is_global`` covers most of them; they are
# spelled out so the rule does not depend on one Python version's tables.
_BLOCKED_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
)
_BLOCKED_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/128",
        "::1/128",
        "::ffff:0:0/96",  # IPv4-mapped (checked through the embedded address too)
        "64:ff9b::/96",  # NAT64
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "2002::/16",  # 6to4
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",
        "ff00::/8",
    )
)
# Hosts made only of digits, dots and hex markers are numeric IP spellings
# (``2130706433``, ``0x7f.1``, ``0177.0.0.1``) that resolvers expand loosely.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]*))*\.?$", re.IGNORECASE)


class PreviewError(Exception):
    """The page could not be fetched or is not a page we preview."""


class BlockedAddress(PreviewError):
    """The URL leads to an address the server must not contact."""


class InvalidUrl(PreviewError):
    """The URL is not an absolute http(s) URL we accept."""


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _BLOCKED_V6[3]:  # NAT64 well-known prefix: the low 32 bits
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_ip(value: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True only for globally routable unicast addresses."""
    try:
        ip = ipaddress.ip_address(value) if isinstance(value, str) else value
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        embedded = _embedded_v4(ip)
        if embedded is not None and not is_public_ip(embedded):
            return False
        # The embedding ranges themselves are blocked below as well: a public
        # site has no reason to be reached through them.
        if any(ip in net for net in _BLOCKED_V6):
            return False
    elif any(ip in net for net in _BLOCKED_V4):
        return False
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def parse_url(raw: str, allowed_ports: frozenset[int] = ALLOWED_PORTS) -> URL:
    """An absolute http(s) URL on port 80/443 without credentials, or :class:`InvalidUrl`."""
    if not raw or len(raw) > MAX_URL_CHARS or any(ch.isspace() for ch in raw.strip()):
        raise InvalidUrl("Invalid URL")
    try:
        url = URL(raw.strip())
        host = url.raw_host
        port = url.port
    except (ValueError, TypeError):
        raise InvalidUrl("Invalid URL") from None
    if url.scheme not in ("http", "https") or not host:
        raise InvalidUrl("Invalid URL")
    if url.raw_user is not None or url.raw_password is not None:
        raise InvalidUrl("Invalid URL")
    if port not in allowed_ports:
        raise InvalidUrl("Only ports 80 and 443 are allowed")
    return url.with_fragment(None)


def host_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP a host names literally, if it does (brackets and zone ids tolerated)."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_blocked_hostname(host: str) -> bool:
    """Names refused before any lookup: localhost and numeric spellings of an IP."""
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    literal = host_literal(name)
    if literal is not None:
        return False
    return bool(_NUMERIC_HOST.match(name))


class _PinnedResolver(AbstractResolver):
    """Answers only for the host we vetted, with the addresses we vetted."""

    def __init__(self, host: str, addresses: list[tuple[int, str]]) -> None:
        self._host = host
        self._addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host != self._host:
            raise OSError(f"unexpected host {host!r}")
        return [
            ResolveResult(hostname=host, host=address, port=port, family=fam, proto=0, flags=0)
            for fam, address in self._addresses
        ]

    async def close(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class FetchedPage:
    url: str
    content_type: str
    charset: str | None
    body: bytes


class SafeFetcher:
    """GETs public web pages under strict limits.

    ``allow_networks`` and ``allowed_ports`` widen the rules for tests that
    serve pages from 127.0.0.1 on a random port; the application never sets
    them, so it only reaches public addresses on ports 80 and 443.
    """

    def __init__(
        self,
        *,
        allow_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (),
        allowed_ports: frozenset[int] = ALLOWED_PORTS,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.allow_networks = allow_networks
        self.allowed_ports = allowed_ports
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.user_agent = user_agent

    def parse_url(self, raw: str) -> URL:
        return parse_url(raw, self.allowed_ports)

    def _vet(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        if any(ip.version == net.version and ip in net for net in self.allow_networks):
            return
        if not is_public_ip(ip):
            raise BlockedAddress("Private URLs are not allowed")

    async def vet_host(self, url: URL) -> list[tuple[int, str]]:
        """Resolve the URL's host and check every address; returns (family, address) pairs."""
        host = url.raw_host or ""
        if is_blocked_hostname(host):
            raise BlockedAddress("Private URLs are not allowed")
        literal = host_literal(host)
        if literal is not None:
            self._vet(literal)
            family = socket.AF_INET6 if literal.version == 6 else socket.AF_INET
            return [(family, str(literal))]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                host, url.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except (OSError, UnicodeError) as exc:
            raise PreviewError("host does not resolve") from exc
        addresses: list[tuple[int, str]] = []
        for family, _type, _proto, _name, sockaddr in infos:
            address = str(sockaddr[0]).split("%", 1)[0]
            ip = ipaddress.ip_address(address)
            # One private answer poisons the lot: we would not know which one
            # the connection ends up using.
            self._vet(ip)
            if (family, address) not in addresses:
                addresses.append((family, address))
        if not addresses:
            raise PreviewError("host does not resolve")
        return addresses

    async def fetch(self, raw_url: str, accept: frozenset[str] = HTML_TYPES) -> FetchedPage:
        """The page at ``raw_url`` (after redirects) if its type is in ``accept``."""
        url = self.parse_url(raw_url)
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._fetch(url, accept)
        except TimeoutError:
            raise PreviewError("timed out") from None

    async def _fetch(self, url: URL, accept: frozenset[str]) -> FetchedPage:
        for _hop in range(self.max_redirects + 1):
            addresses = await self.vet_host(url)
            resolver = _PinnedResolver(url.raw_host or "", addresses)
            connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False, limit=1)
            timeout = aiohttp.ClientTimeout(total=self.timeout_s)
            async with aiohttp.ClientSession(
                connector=connector, timeout=timeout, trust_env=False
            ) as session:
                try:
                    async with session.get(
                        url,
                        allow_redirects=False,
                        headers={
                            "User-Agent": self.user_agent,
                            "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
                            "Accept-Language": "en",
                        },
                    ) as resp:
                        if resp.status in (301, 302, 303, 307, 308):
                            location = resp.headers.get("Location")
                            if not location:
                                raise PreviewError("redirect without a location")
                            url = self.parse_url(urljoin(str(url), location))
                            continue
                        if not 200 <= resp.status < 300:
                            raise PreviewError(f"status {resp.status}")
                        mime = (resp.content_type or "").lower()
                        if mime not in accept:
                            raise PreviewError("not an accepted content type")
                        body = await self._read(resp)
                        return FetchedPage(str(resp.url), mime, resp.charset, body)
                except aiohttp.ClientError as exc:
                    raise PreviewError(type(exc).__name__) from exc
        raise PreviewError("too many redirects")

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        """At most ``max_bytes``: previews need the head, not the whole page."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(64 * 1024):
            chunks.append(chunk)
            size += len(chunk)
            if size >= self.max_bytes:
                break
        return b"".join(chunks)[: self.max_bytes]


# --- parsing ------------------------------------------------------------------------------


def _clean(value: str | None, limit: int = MAX_TEXT_CHARS) -> str | None:
    if value is None:
        return None
    text = re.sub(r"\s+", " ", value).strip()
    return text[:limit] or None


def _absolute(base: str, value: str | None) -> str | None:
    """An absolute http(s) URL, or None (no ``javascript:`` or ``data:`` links)."""
    if not value or not value.strip():
        return None
    joined = urljoin(base, value.strip())
    if len(joined) > MAX_URL_CHARS or not joined.lower().startswith(("http://", "https://")):
        return None
    return joined


def hostname_label(url: str) -> str | None:
    """The host without a leading ``www.``: the fallback site name."""
    try:
        host = URL(url).host
    except (ValueError, TypeError):
        return None
    if not host:
        return None
    return host[4:] if host.startswith("www.") else host


def parse_preview(page_url: str, body: bytes, charset: str | None = None) -> dict[str, Any]:
    """The LinkPreview fields found in an HTML document (``url`` is the caller's)."""
    parser: LexborHTMLParser
    if charset:
        try:
            parser = LexborHTMLParser(body.decode(charset, errors="replace"))
        except LookupError:
            parser = LexborHTMLParser(body, encoding=True)
    else:
        parser = LexborHTMLParser(body, encoding=True)

    metas: dict[str, str] = {}
    for node in parser.css("meta"):
        attrs = node.attributes
        key = attrs.get("property") or attrs.get("name")
        content = attrs.get("content")
        if key and content is not None:
            metas.setdefault(key.strip().lower(), content)

    title_node = parser.css_first("title")
    title = (
        _clean(metas.get("og:title"))
        or _clean(metas.get("twitter:title"))
        or _clean(title_node.text() if title_node is not None else None)
    )
    description = (
        _clean(metas.get("og:description"), MAX_DESCRIPTION_CHARS)
        or _clean(metas.get("twitter:description"), MAX_DESCRIPTION_CHARS)
        or _clean(metas.get("description"), MAX_DESCRIPTION_CHARS)
    )
    image = _absolute(page_url, metas.get("og:image")) or _absolute(
        page_url, metas.get("twitter:image") or metas.get("twitter:image:src")
    )
    site_name = _clean(metas.get("og:site_name")) or hostname_label(page_url)

    icons: dict[str, str] = {}
    for node in parser.css("link[rel][href]"):
        rel = " ".join((node.attributes.get("rel") or "").lower().split())
        href = node.attributes.get("href")
        if href:
            icons.setdefault(rel, href)
    favicon = None
    for rel in ("icon", "shortcut icon", "apple-touch-icon"):
        favicon = _absolute(page_url, icons.get(rel))
        if favicon:
            break
    favicon = favicon or _absolute(page_url, "/favicon.ico")
    return {
        "title": title,
        "description": description,
        "image": image,
        "siteName": site_name,
        "favicon": favicon,
    }
