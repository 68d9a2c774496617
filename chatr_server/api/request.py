"""Request helpers shared by the handlers: JSON bodies, auth, client address."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from chatr_server.api.openapi import DECLARED, Declared
from chatr_server.appkeys import SERVICES, SETTINGS
from chatr_server.errors import ServiceError, bad_request
from chatr_server.services.auth import GUEST_REFUSED, AuthenticatedUser
from chatr_server.services.dependencies import INVALID_INPUT, has_nul
from chatr_server.services.tokens import bearer_token
from chatr_server.util.validation import validate


async def read_json(request: web.Request) -> dict[str, Any]:
    """The JSON object body (``{}`` when empty); 400 for malformed or non-object JSON.

    Also 400 for a NUL character in any string: PostgreSQL's ``text`` cannot
    hold one. JSON can only carry it escaped, so bodies without ``\\u0000``
    are not walked.
    """
    limit = request.app[SETTINGS].max_json_body
    if request.content_length is not None and request.content_length > limit:
        raise ServiceError(413, "Request body too large")
    raw = await request.content.read(limit + 1)
    if len(raw) > limit:
        raise ServiceError(413, "Request body too large")
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request("Malformed JSON body") from None
    if not isinstance(body, dict):
        raise bad_request("Request body must be a JSON object")
    if b"\\u0000" in raw and has_nul(body):
        raise bad_request(INVALID_INPUT)
    return body


def _declared(request: web.Request, part: str) -> Declared:
    declared: Declared | None = request.get(DECLARED)
    if declared is None or getattr(declared, part) is None:
        raise RuntimeError(f"{request.path}: the route reads a {part} it does not declare")
    declared.read.add(part)
    return declared


async def read_body(request: web.Request) -> dict[str, Any]:
    """The JSON body loaded by the route's declared ``body`` schema (400 when it does not fit)."""
    schema = _declared(request, "body").body
    assert schema is not None
    return validate(schema, await read_json(request))


def read_query(request: web.Request) -> dict[str, Any]:
    """The query string loaded by the route's declared ``query`` schema."""
    schema = _declared(request, "query").query
    assert schema is not None
    # A repeated parameter counts once (its first value), as ``request.query.get`` did.
    return validate(schema, {key: request.query.getone(key) for key in request.query})


async def require_user(request: web.Request, *, guests: bool = False) -> AuthenticatedUser:
    """Authenticate the request's bearer token (401 when absent, 403 when bad).

    SEC-23: a widget guest's token is refused (403) unless the route opts in with
    ``guests=True``, so a new route is closed to guests until it is allowed here.
    """
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        raise ServiceError(401, "Access token required")
    user = await request.app[SERVICES].auth.authenticate(token)
    if user.is_guest and not guests:
        raise ServiceError(403, GUEST_REFUSED)
    return user


def client_address(request: web.Request) -> str:
    """The client's address, trusting exactly the configured number of proxy hops."""
    hops = request.app[SETTINGS].trusted_proxy_hops
    peer = request.remote or "unknown"
    if hops <= 0:
        return peer
    forwarded = [
        p.strip() for p in request.headers.get("X-Forwarded-For", "").split(",") if p.strip()
    ]
    chain = [*forwarded, peer]
    # The last `hops` entries were added by our own proxies; the one before is the client.
    index = len(chain) - 1 - hops
    return chain[index] if index >= 0 else chain[0]
