"""``/api/auth`` handlers: parse, call :class:`AuthService`, render."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from chatr_server.api.openapi import doc
from chatr_server.api.request import client_address, read_body, require_user
from chatr_server.api.schemas.auth import (
    ForgotPasswordSchema,
    LoginResponseSchema,
    LoginSchema,
    RegisterResponseSchema,
    RegisterSchema,
    ResendVerificationSchema,
    ResetPasswordSchema,
    TwoFactorSetupResponseSchema,
    TwoFactorVerifyResponseSchema,
    TwoFactorVerifySchema,
    VerifyCodeSchema,
    VerifyResponseSchema,
)
from chatr_server.api.schemas.common import MessageSchema
from chatr_server.appkeys import SERVICES
from chatr_server.errors import ServiceError
from chatr_server.services.auth import AuthService
from chatr_server.util.jsonx import json_response


async def limit_headers(request: web.Request, limit: str) -> dict[str, str]:
    """Apply a rate limit; returns the ``X-RateLimit-Remaining`` header to send."""
    remaining = await request.app[SERVICES].rate_limiter.hit(limit, client_address(request))
    return {} if remaining is None else {"X-RateLimit-Remaining": str(remaining)}


AuthAction = Callable[[AuthService], Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]]


async def _limited(
    request: web.Request, limit: str, action: AuthAction, status: int = 200
) -> web.Response:
    """Count ``limit`` for the client, then run ``action`` on the request's body.

    A refusal (bad body included, so malformed requests count too) keeps the
    ``X-RateLimit-Remaining`` header of the answer it would have had.
    """
    headers = await limit_headers(request, limit)
    try:
        body = await read_body(request)
        result = await action(request.app[SERVICES].auth)(body)
    except ServiceError as exc:
        exc.headers = {**headers, **(exc.headers or {})}
        raise
    return json_response(result, status=status, headers=headers)


# Email and phone verification share one contract: same body, same answers.
_VERIFY_DOC: dict[str, Any] = {
    "tags": ["auth"],
    "body": VerifyCodeSchema,
    "responses": {
        200: VerifyResponseSchema,
        400: "Missing fields",
        401: "Wrong or expired code",
        404: "Unknown user",
        429: "Rate limited, or too many wrong codes",
    },
}


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
    return await _limited(request, "register", lambda auth: auth.register, status=201)


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
    return await _limited(request, "login", lambda auth: auth.login)


@doc("Confirm the email address with the emailed code", **_VERIFY_DOC)
async def verify_email(request: web.Request) -> web.Response:
    return await _limited(request, "verify", lambda auth: auth.verify_email)


@doc("Confirm the phone number with the SMS code", **_VERIFY_DOC)
async def verify_phone(request: web.Request) -> web.Response:
    return await _limited(request, "verify", lambda auth: auth.verify_phone)


@doc(
    "Revoke the presented token",
    tags=["auth"],
    auth=True,
    responses={200: MessageSchema, 401: "No token", 403: "Bad token"},
)
async def logout(request: web.Request) -> web.Response:
    user = await require_user(request, guests=True)
    return json_response(await request.app[SERVICES].auth.logout(user))


@doc(
    "Send a new email-verification or login code",
    tags=["auth"],
    body=ResendVerificationSchema,
    responses={
        200: MessageSchema,
        400: "Missing fields, bad type or already verified",
        404: "Unknown user",
        429: "Rate limited (per address and per account)",
    },
)
async def resend_verification(request: web.Request) -> web.Response:
    return await _limited(request, "resend", lambda auth: auth.resend_verification)


@doc(
    "Start TOTP two-factor setup: a new secret, its otpauth URL and a QR code",
    tags=["auth"],
    auth=True,
    responses={
        200: TwoFactorSetupResponseSchema,
        401: "No token",
        403: "Bad token",
        404: "Unknown user",
    },
)
async def two_factor_setup(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await request.app[SERVICES].two_factor.setup(user.id))


@doc(
    "Confirm TOTP setup with a current code; enables 2FA and returns a fresh token",
    tags=["auth"],
    auth=True,
    body=TwoFactorVerifySchema,
    responses={
        200: TwoFactorVerifyResponseSchema,
        400: "Missing code",
        401: "Wrong code or no token",
        403: "Bad token",
        404: "2FA not set up",
        429: "Too many wrong codes",
    },
)
async def two_factor_verify(request: web.Request) -> web.Response:
    user = await require_user(request)
    body = await read_body(request)
    return json_response(await request.app[SERVICES].two_factor.verify(user.id, body["code"]))


@doc(
    "Email a password-reset code and link (same answer whether or not the account exists)",
    tags=["auth"],
    body=ForgotPasswordSchema,
    responses={200: MessageSchema, 400: "Missing email", 429: "Rate limited"},
)
async def forgot_password(request: web.Request) -> web.Response:
    return await _limited(request, "forgot-pw", lambda auth: auth.forgot_password)


@doc(
    "Set a new password with the emailed reset code (rewrite addition)",
    tags=["auth"],
    body=ResetPasswordSchema,
    description=(
        "Not in the original server, whose reset codes could not be used. The code is single "
        "use and burned after 5 wrong tries; the new password follows the registration rules; "
        "every token issued before the reset stops working."
    ),
    responses={
        200: MessageSchema,
        400: "Missing fields or password rules",
        401: "Wrong or expired code",
        429: "Rate limited, or too many wrong codes",
    },
)
async def reset_password(request: web.Request) -> web.Response:
    return await _limited(request, "verify", lambda auth: auth.reset_password)
