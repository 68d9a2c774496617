"""TOTP 2FA setup and verification, codes computed with pyotp."""

from __future__ import annotations

import base64
import time

import jwt
import pyotp

from tests.helpers import make_user


async def _setup(client, user) -> dict:
    resp = await client.post("/api/auth/2fa/setup", headers=user.auth)
    assert resp.status == 200
    return await resp.json()


async def _verify(client, user, code) -> tuple[int, dict]:
    resp = await client.post("/api/auth/2fa/verify", json={"code": code}, headers=user.auth)
    return resp.status, await resp.json()


async def test_setup_returns_secret_uri_and_png_qr(client):
    user = await make_user(client)
    body = await _setup(client, user)
    secret = body["secret"]
    assert len(base64.b32decode(secret)) >= 16
    assert body["otpauth"] == (
        f"otpauth://totp/Chatr%20({user.username.replace('@', '%40')})?secret={secret}&issuer=Chatr"
    )
    prefix = "data:image/png;base64,"
    assert body["qrCode"].startswith(prefix)
    png = base64.b64decode(body["qrCode"][len(prefix) :])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    # The URI is one pyotp (and so an authenticator app) understands.
    parsed = pyotp.parse_uri(body["otpauth"])
    assert parsed.secret == secret and parsed.issuer == "Chatr"


async def test_setup_and_verify_need_a_token(client):
    assert (await client.post("/api/auth/2fa/setup")).status == 401
    resp = await client.post("/api/auth/2fa/verify", json={"code": "123456"})
    assert resp.status == 401
    assert await resp.json() == {"error": "Access token required"}


async def test_verify_enables_2fa_and_returns_a_fresh_token(client):
    user = await make_user(client)
    secret = (await _setup(client, user))["secret"]
    status, body = await _verify(client, user, pyotp.TOTP(secret).now())
    assert status == 200, body
    assert body["message"] == "2FA enabled successfully"
    assert body["user"]["twoFactorEnabled"] is True
    assert body["user"]["id"] == user.id and body["user"]["username"] == user.username
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["userId"] == user.id
    resp = await client.get("/api/users/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert resp.status == 200


async def test_verify_accepts_drift_within_two_steps_only(client):
    user = await make_user(client)
    totp = pyotp.TOTP((await _setup(client, user))["secret"])
    now = time.time()
    too_old = totp.at(now - 4 * 30)
    if too_old not in {totp.at(now + k * 30) for k in range(-2, 3)}:
        status, body = await _verify(client, user, too_old)
        assert (status, body) == (401, {"error": "Invalid 2FA code"})
    # One step back (two if a step boundary passes before the server checks) is accepted.
    status, _ = await _verify(client, user, totp.at(now - 30))
    assert status == 200


async def test_verify_errors(client):
    user = await make_user(client)
    assert await _verify(client, user, "") == (400, {"error": "Verification code is required"})
    assert await _verify(client, user, "123456") == (
        404,
        {"error": "User not found or 2FA not set up"},
    )
    await _setup(client, user)
    status, body = await _verify(client, user, 123456)
    assert status == 400 and "code" in body["error"]


async def test_test_mode_bypass_does_not_pass_2fa(client):
    user = await make_user(client)
    secret = (await _setup(client, user))["secret"]
    if pyotp.TOTP(secret).verify("000000", valid_window=2):
        return  # astronomically unlikely: the bypass code is also the current TOTP code
    assert await _verify(client, user, "000000") == (401, {"error": "Invalid 2FA code"})


async def test_wrong_codes_lock_2fa_verification(client):
    user = await make_user(client)
    totp = pyotp.TOTP((await _setup(client, user))["secret"])
    valid = {totp.at(time.time() + k * 30) for k in range(-3, 4)}
    wrong = next(f"{n:06d}" for n in range(100000, 999999) if f"{n:06d}" not in valid)
    statuses = [(await _verify(client, user, wrong))[0] for _ in range(5)]
    assert statuses == [401] * 5
    status, body = await _verify(client, user, totp.now())
    assert status == 429
    assert body == {"error": "Too many incorrect codes. Please try again later."}
    # A new setup (new secret) starts a fresh count.
    totp = pyotp.TOTP((await _setup(client, user))["secret"])
    assert (await _verify(client, user, totp.now()))[0] == 200


async def test_setup_again_replaces_the_secret_and_disables(client):
    user = await make_user(client)
    first = (await _setup(client, user))["secret"]
    assert (await _verify(client, user, pyotp.TOTP(first).now()))[0] == 200
    second = (await _setup(client, user))["secret"]
    assert second != first
    old_code = pyotp.TOTP(first).now()
    if not pyotp.TOTP(second).verify(old_code, valid_window=2):
        assert (await _verify(client, user, old_code))[0] == 401
