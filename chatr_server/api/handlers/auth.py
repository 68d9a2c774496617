"""``/api/auth`` handlers: parse, call :class:`AuthService`, render."""

from __future__ import annotations

from aiohttp import web

from chatr_server.api.openapi import doc
from chatr_server.api.request import client_address, json_body, require_user
from chatr_server.api.schemas.auth import (
    LoginResponseSchema,
    LoginSchema,
    RegisterResponseSchema,
    RegisterSchema,
    VerifyCodeSchema,
    VerifyResponseSchema,
)
from chatr_server.api.schemas.common import MessageSchema
from chatr_server.appkeys import SERVICES
from chatr_server.errors import ServiceError
from chatr_server.util.jsonx import json_response

_register = RegisterSchema()
_login = LoginSchema()
_verify = VerifyCodeSchema()


async def _limited(request: web.Request, limit: str) -> dict[str, str]:
    """Apply a rate limit; returns the ``X-RateLimit-Remaining`` header to send."""
    try:
        remaining = await request.app[SERVICES].rate_limiter.hit(limit, client_address(request))
    except ServiceError:
        raise
    return {} if remaining is None else {"X-RateLimit-Remaining": str(remaining)}


@doc(
    "Create an account; a verification code is emailed",
    tags=["auth"],
    body=RegisterSchema,
    responses={
        201: RegisterResponseSchema,
        400: "Validation error",
        409: "Already registered",
        429: "Rate limited",
    },
)
async def register(request: web.Request) -> web.Response:
    headers = await _limited(request, "register")
    body = await json_body(request, _register)
    try:
        result = await request.app[SERVICES].auth.register(body)
    except ServiceError as exc:
        exc.headers = {**headers, **(exc.headers or {})}
        raise
    return json_response(result, status=201, headers=headers)


@doc(
    "Log in with email or username; a second call carries the emailed/SMS code",
    tags=["auth"],
    body=LoginSchema,
    responses={
        200: LoginResponseSchema,
        400: "Missing fields",
        401: "Invalid credentials or code",
        429: "Rate limited",
    },
)
async def login(request: web.Request) -> web.Response:
    headers = await _limited(request, "login")
    body = await json_body(request, _login)
    try:
        result = await request.app[SERVICES].auth.login(body)
    except ServiceError as exc:
        exc.headers = {**headers, **(exc.headers or {})}
        raise
    return json_response(result, headers=headers)


@doc(
    "Confirm the email address with the emailed code",
    tags=["auth"],
    body=VerifyCodeSchema,
    responses={
        200: VerifyResponseSchema,
        400: "Missing fields",
        401: "Wrong or expired code",
        404: "Unknown user",
    },
)
async def verify_email(request: web.Request) -> web.Response:
    body = await json_body(request, _verify)
    return json_response(await request.app[SERVICES].auth.verify_email(body))


@doc(
    "Confirm the phone number with the SMS code",
    tags=["auth"],
    body=VerifyCodeSchema,
    responses={
        200: VerifyResponseSchema,
        400: "Missing fields",
        401: "Wrong or expired code",
        404: "Unknown user",
    },
)
async def verify_phone(request: web.Request) -> web.Response:
    body = await json_body(request, _verify)
    return json_response(await request.app[SERVICES].auth.verify_phone(body))


@doc(
    "Revoke the presented token",
    tags=["auth"],
    auth=True,
    responses={200: MessageSchema, 401: "No token", 403: "Bad token"},
)
async def logout(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await request.app[SERVICES].auth.logout(user))
