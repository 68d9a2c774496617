"""HTTP middleware: request ids, CORS, docs auth, and the single error boundary."""

from __future__ import annotations

import base64
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from chatr_server.appkeys import DEPENDENCIES, SETTINGS
from chatr_server.errors import ServiceError
from chatr_server.services.dependencies import (
    INVALID_INPUT,
    RETRY_AFTER_S,
    UNAVAILABLE,
    DependencyUnavailable,
    is_unstorable_text,
)
from chatr_server.util.jsonx import error_response, json_response
from chatr_server.util.logging import request_id_var

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_PUBLIC_CORS_PREFIXES = (
    "/api/widget/",
    "/uploads/",
    "/assets/",
    "/widget/",
    "/api/messages/download/",
)
_CORS_METHODS = "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS"
# Status recorded for a request whose client disconnected first (nginx's convention;
# never actually sent, the connection is gone).
CLIENT_CLOSED_REQUEST = 499


def _cors_headers(request: web.Request) -> dict[str, str]:
    """The contract's CORS rules: public paths get ``*``; the API an origin allow-list."""
    settings = request.app[SETTINGS]
    origin = request.headers.get("Origin")
    if request.path.startswith(_PUBLIC_CORS_PREFIXES):
        return {"Access-Control-Allow-Origin": "*"}
    if not origin:
        return {}
    if settings.production and origin.rstrip("/") not in settings.allowed_origins:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Tag the request with an id (echoed in ``X-Request-Id``) and apply CORS."""
    incoming = request.headers.get("X-Request-Id", "")
    request_id = (
        incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else secrets.token_hex(8)
    )
    token = request_id_var.set(request_id)
    try:
        if request.path.startswith("/socket.io"):
            # The realtime layer answers its own CORS and errors.
            return await handler(request)
        cors = _cors_headers(request)
        if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
            preflight = web.Response(status=204, headers=cors)
            if cors:
                preflight.headers["Access-Control-Allow-Methods"] = _CORS_METHODS
                preflight.headers["Access-Control-Allow-Headers"] = request.headers.get(
                    "Access-Control-Request-Headers", "Content-Type, Authorization"
                )
                preflight.headers["Access-Control-Max-Age"] = "600"
            return preflight
        response = await handler(request)
        for key, value in cors.items():
            response.headers.setdefault(key, value)
        response.headers.setdefault("X-Request-Id", request_id)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Cross-Origin-Resource-Policy", "cross-origin")
        return response
    finally:
        request_id_var.reset(token)


@web.middleware
async def docs_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """In production the API docs need HTTP Basic credentials, and are off without them."""
    settings = request.app[SETTINGS]
    if not settings.production or not request.path.startswith(("/api/docs", "/api/openapi.json")):
        return await handler(request)
    if not settings.swagger_user or not settings.swagger_pass:
        return error_response("Not found", 404)
    expected = f"{settings.swagger_user}:{settings.swagger_pass}".encode()
    header = request.headers.get("Authorization", "")
    given = b""
    if header.startswith("Basic "):
        try:
            given = base64.b64decode(header[6:], validate=True)
        except ValueError:
            given = b""
    if not hmac.compare_digest(given, expected):
        return web.Response(
            status=401,
            text="Unauthorized",
            headers={"WWW-Authenticate": 'Basic realm="Chatr API Docs"'},
        )
    return await handler(request)


@web.middleware
async def error_boundary(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as JSON; unexpected ones are logged and never leak details.

    A dependency outage is a 503 with ``Retry-After`` (counted by the app's
    dependency monitor, no traceback); text PostgreSQL cannot store (NUL, in
    the path or query here, in JSON bodies in ``read_json``) is a 400.
    """
    if "%00" in request.raw_path:
        return error_response(INVALID_INPUT, 400)
    try:
        return await handler(request)
    except ServiceError as exc:
        if isinstance(exc, DependencyUnavailable):
            request.app[DEPENDENCIES].refuse(exc)
        return json_response(exc.body(), status=exc.status, headers=exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404:
            message = "Not found"
        elif exc.status == 405:
            message = "Method not allowed"
        elif exc.status == 413:
            message = "Request body too large"
        else:
            message = exc.reason or "Request failed"
        headers = {
            k: v for k, v in exc.headers.items() if k.lower() in {"allow", "www-authenticate"}
        }
        return json_response({"error": message}, status=exc.status, headers=headers)
    except Exception as exc:
        if isinstance(exc, ConnectionResetError) and _client_gone(request):
            # The client left mid-request (an aborted upload, a closed tab): nothing to
            # answer and nothing wrong here. The access log shows nginx's "client closed
            # request".
            log.info("client went away during %s %s", request.method, request.rel_url.path)
            return web.Response(status=CLIENT_CLOSED_REQUEST)
        if request.app[DEPENDENCIES].refuse(exc) is not None:
            return error_response(UNAVAILABLE, 503, headers={"Retry-After": str(RETRY_AFTER_S)})
        if is_unstorable_text(exc):
            return error_response(INVALID_INPUT, 400)
        log.exception("unhandled error on %s %s", request.method, request.rel_url.path)
        return error_response("Internal server error", 500)


def _client_gone(request: web.Request) -> bool:
    """A reset on the client's own connection (not a dependency's)."""
    transport = request.transport
    return transport is None or transport.is_closing()
