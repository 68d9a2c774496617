"""Registration, login, verification and logout against the real app."""

from __future__ import annotations

import asyncio
import base64
import json
import re

import jwt
import pytest

from chatr_server.services.codes import generate_code
from tests.helpers import PASSWORD, make_user, register, unique_username

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _outbox_codes(settings, kind: str) -> list[str]:
    folder = settings.outbox_dir / kind
    if not folder.exists():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        record = json.loads(path.read_text())
        text = record.get("text") or record.get("body") or ""
        found += re.findall(r"\b(\d{6})\b", text)
    return found


# ---- register -------------------------------------------------------------


async def test_register_success_shape(client):
    status, body, _sent = await register(client)
    assert status == 201
    assert body["message"] == (
        "User registered successfully. Please check your email for verification code."
    )
    assert body["requiresEmailVerification"] is True
    assert re.match(r"^[0-9a-f-]{36}$", body["userId"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"email": ..., "phoneNumber": ...},
            "Email or phone number, username, and password are required",
        ),
        ({"username": ""}, "Email or phone number, username, and password are required"),
        ({"password": ...}, "Email or phone number, username, and password are required"),
        ({"firstName": "  "}, "First name is required"),
        ({"lastName": ...}, "Last name is required"),
        ({"gender": "robot"}, "Invalid gender value"),
        ({"email": "not-an-email"}, "Invalid email format"),
        ({"phoneNumber": "+1555123"}, "Invalid phone number format"),
        ({"username": "ab"}, "Username must be 3-20 characters, alphanumeric and underscores only"),
        (
            {"username": "bad-name!"},
            "Username must be 3-20 characters, alphanumeric and underscores only",
        ),
        ({"password": "Sh0rt!"}, "Password must be at least 8 characters"),
        ({"password": "nocapitals!1"}, "Password must include at least one capital letter"),
        ({"password": "NoSpecials1"}, "Password must include at least one special character"),
    ],
)
async def test_register_validation_errors(client, overrides, message):
    status, body, _ = await register(client, **overrides)
    assert status == 400
    assert body == {"error": message}


@pytest.mark.parametrize("field", ["email", "username", "password", "firstName"])
async def test_register_wrong_types_are_400(client, field):
    status, body, _ = await register(client, **{field: {"nested": True}})
    assert status == 400
    assert field in body["error"]


async def test_register_malformed_json_is_400(client):
    resp = await client.post(
        "/api/auth/register", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert "error" in await resp.json()
    resp = await client.post("/api/auth/register", json=[1, 2])
    assert resp.status == 400


async def test_register_oversized_body_is_413(client):
    resp = await client.post("/api/auth/register", json={"email": "x" * 200_000})
    assert resp.status == 413


async def test_register_duplicate_username_is_409(client):
    user = await make_user(client)
    status, body, _ = await register(client, username=user.username)
    assert status == 409
    assert body == {"error": "Username already taken"}


async def test_reregister_unverified_with_same_password_overwrites(client):
    status, first, sent = await register(client)
    assert status == 201
    new_name = unique_username()
    status, second, _ = await register(client, email=sent["email"], username=new_name)
    assert status == 201
    assert second["userId"] == first["userId"]


async def test_reregister_unverified_by_stranger_is_refused(client):
    """SEC-9: a stranger cannot overwrite a fresh unverified account's password."""
    status, _, sent = await register(client)
    status, body, _ = await register(client, email=sent["email"], password="Other!Pass9")
    assert status == 409
    assert "awaiting verification" in body["error"]


async def test_register_verified_email_conflict(client, base_settings):
    status, data, sent = await register(client)
    resp = await client.post(
        "/api/auth/verify-email", json={"userId": data["userId"], "code": "000000"}
    )
    assert resp.status == 200
    status, body, _ = await register(client, email=sent["email"])
    assert status == 409
    assert body == {"error": "Email already registered and verified. Please login."}


async def test_register_phone_normalised_and_verified_phone_conflict(client):
    phone = "07700900" + str(100 + __import__("secrets").randbelow(899))
    status, data, _sent = await register(client, phoneNumber=phone)
    assert status == 201
    resp = await client.post(
        "/api/auth/verify-email", json={"userId": data["userId"], "code": "000000"}
    )
    body = await resp.json()
    assert body["requiresPhoneVerification"] is True
    assert body["phoneNumber"] == "+44" + phone[1:]
    resp = await client.post(
        "/api/auth/verify-phone", json={"userId": data["userId"], "code": "000000"}
    )
    assert resp.status == 200
    status, body, _ = await register(client, phoneNumber=phone)
    assert status == 409
    assert body == {"error": "Phone number already registered and verified. Please login."}


# ---- verify-email / verify-phone -------------------------------------------


async def test_verify_email_with_emailed_code_without_test_mode(make_client, base_settings):
    client = await make_client(test_mode_allowed=False)
    _status, data, _ = await register(client)
    codes = _outbox_codes(base_settings, "email")
    assert codes, "the verification email should be in the outbox"
    resp = await client.post(
        "/api/auth/verify-email", json={"userId": data["userId"], "code": "000000"}
    )
    assert resp.status == 401
    assert await resp.json() == {"error": "Invalid verification code"}
    resp = await client.post(
        "/api/auth/verify-email", json={"userId": data["userId"], "code": codes[-1]}
    )
    body = await resp.json()
    assert resp.status == 200, body
    assert body["message"] == "Email verified successfully. Registration complete!"
    assert body["user"]["phoneVerified"] is True
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["userId"] == data["userId"]
    # A used code cannot be used again.
    resp = await client.post(
        "/api/auth/verify-email", json={"userId": data["userId"], "code": codes[-1]}
    )
    assert resp.status == 400
    assert await resp.json() == {"error": "Email already verified"}


async def test_verify_email_errors(client):
    resp = await client.post("/api/auth/verify-email", json={"userId": "x"})
    assert resp.status == 400
    assert await resp.json() == {"error": "User ID and code are required"}
    resp = await client.post("/api/auth/verify-email", json={"userId": "not-a-uuid", "code": "1"})
    assert resp.status == 404
    resp = await client.post(
        "/api/auth/verify-email",
        json={"userId": "00000000-0000-4000-8000-000000000000", "code": "123456"},
    )
    assert resp.status == 404
    assert await resp.json() == {"error": "User not found"}
    resp = await client.post("/api/auth/verify-email", json={"userId": 5, "code": []})
    assert resp.status == 400


async def test_verify_email_wrong_code_attempts_burn_the_code(make_client):
    client = await make_client(test_mode_allowed=False)
    _, data, _ = await register(client)
    statuses = []
    for _ in range(6):
        wrong = generate_code()
        resp = await client.post(
            "/api/auth/verify-email", json={"userId": data["userId"], "code": wrong}
        )
        statuses.append(resp.status)
    assert 429 in statuses
    assert statuses[0] == 401


async def test_verify_phone_requires_email_first(client):
    _, data, _ = await register(client, phoneNumber="07700900" + "555")
    resp = await client.post(
        "/api/auth/verify-phone", json={"userId": data["userId"], "code": "000000"}
    )
    assert resp.status == 400
    assert await resp.json() == {"error": "Please verify your email first"}
    resp = await client.post("/api/auth/verify-phone", json={})
    assert resp.status == 400


# ---- login ----------------------------------------------------------------


async def test_login_bypass_returns_contract_shape(client):
    _status, _data, sent = await register(client)
    resp = await client.post(
        "/api/auth/login",
        json={
            "email": sent["email"].upper(),
            "password": PASSWORD,
            "loginVerificationCode": "000000",
        },
    )
    body = await resp.json()
    assert resp.status == 200
    assert body["message"] == "Login successful"
    assert body["user"]["username"] == "@" + sent["username"]
    assert body["user"]["displayName"] == "Test User"
    assert TS.match(body["user"]["createdAt"])
    payload = json.loads(base64.urlsafe_b64decode(body["token"].split(".")[1] + "=="))
    assert set(payload) == {"userId", "username", "iat", "exp"}
    assert payload["exp"] - payload["iat"] == 365 * 24 * 3600


async def test_login_by_username_without_at(client):
    _, _, sent = await register(client)
    resp = await client.post(
        "/api/auth/login",
        json={"email": sent["username"], "password": PASSWORD, "loginVerificationCode": "000000"},
    )
    assert resp.status == 200


async def test_login_errors(client):
    resp = await client.post("/api/auth/login", json={"email": "a@b.co"})
    assert resp.status == 400
    assert await resp.json() == {"error": "Email/username and password are required"}
    _, _, sent = await register(client)
    resp = await client.post(
        "/api/auth/login", json={"email": sent["email"], "password": "Wrong!Pass1"}
    )
    assert resp.status == 401
    assert await resp.json() == {"error": "Invalid credentials"}
    resp = await client.post(
        "/api/auth/login", json={"email": "nobody@nowhere.test", "password": "x"}
    )
    assert resp.status == 401
    resp = await client.post("/api/auth/login", json={"email": 12, "password": "x"})
    assert resp.status == 400


async def test_login_flow_without_test_mode(make_client, base_settings):
    client = await make_client(test_mode_allowed=False)
    _, data, sent = await register(client)
    creds = {"email": sent["email"], "password": PASSWORD}
    # Email unverified: a new email code.
    body = await (await client.post("/api/auth/login", json=creds)).json()
    assert body == {
        "requiresEmailVerification": True,
        "message": "Please verify your email before logging in",
        "userId": data["userId"],
    }
    code = _outbox_codes(base_settings, "email")[-1]
    resp = await client.post(
        "/api/auth/verify-email", json={"userId": data["userId"], "code": code}
    )
    assert resp.status == 200
    # The bypass code is an ordinary wrong code here.
    resp = await client.post("/api/auth/login", json={**creds, "loginVerificationCode": "000000"})
    assert resp.status == 400
    assert await resp.json() == {"error": "No verification code found. Please log in again."}
    # SMS method without a phone.
    resp = await client.post("/api/auth/login", json=creds)
    assert resp.status == 400
    assert await resp.json() == {"error": "No phone number on file. Please use email verification."}
    body = await (
        await client.post("/api/auth/login", json={**creds, "verificationMethod": "email"})
    ).json()
    assert body == {
        "requiresLoginVerification": True,
        "verificationMethod": "email",
        "message": "Please check your email for the verification code",
        "userId": data["userId"],
    }
    code = _outbox_codes(base_settings, "email")[-1]
    resp = await client.post("/api/auth/login", json={**creds, "loginVerificationCode": "000000"})
    assert resp.status == 401
    assert await resp.json() == {"error": "Invalid verification code"}
    resp = await client.post("/api/auth/login", json={**creds, "loginVerificationCode": code})
    body = await resp.json()
    assert resp.status == 200, body
    assert body["token"]


async def test_test_mode_routes_absent_without_flag(make_client):
    client = await make_client(test_mode_allowed=False)
    resp = await client.post("/api/test/mode", json={"enabled": True})
    assert resp.status == 404
    assert await resp.json() == {"error": "Not found"}
    assert (await client.post("/api/test/cleanup-all")).status == 404


async def test_production_ignores_test_mode_env():
    from chatr_server.settings import Settings

    settings = Settings.from_env(
        {"NODE_ENV": "production", "CHATR_TEST_MODE": "1", "JWT_SECRET": "x" * 40}
    )
    assert settings.test_mode_allowed is False


# ---- tokens ----------------------------------------------------------------


async def test_me_requires_token(client):
    resp = await client.get("/api/users/me")
    assert resp.status == 401
    assert await resp.json() == {"error": "Access token required"}
    resp = await client.get("/api/users/me", headers={"Authorization": "Bearer"})
    assert resp.status == 401


async def test_tampered_and_alg_none_tokens_rejected(client, base_settings):
    user = await make_user(client)
    header, payload, sig = user.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["userId"] = "00000000-0000-4000-8000-000000000000"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    for token in (
        f"{header}.{forged_payload}.{sig}",
        jwt.encode(claims, key=None, algorithm="none"),
        jwt.encode(claims, "wrong-secret-" * 4, algorithm="HS256"),
        "garbage",
    ):
        resp = await client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 403
        assert await resp.json() == {"error": "Invalid or expired token"}
    expired = jwt.encode(
        {"userId": user.id, "username": user.username, "iat": 1, "exp": 2},
        base_settings.jwt_secret,
        algorithm="HS256",
    )
    resp = await client.get("/api/users/me", headers={"Authorization": f"Bearer {expired}"})
    assert resp.status == 403


async def test_logout_revokes_token(client):
    user = await make_user(client)
    assert (await client.get("/api/users/me", headers=user.auth)).status == 200
    resp = await client.post("/api/auth/logout", headers=user.auth)
    assert resp.status == 200
    assert await resp.json() == {"message": "Logged out successfully"}
    resp = await client.get("/api/users/me", headers=user.auth)
    assert resp.status == 403
    assert await resp.json() == {"error": "Token has been revoked"}
    assert (await client.post("/api/auth/logout")).status == 401


async def test_rate_limit_on_login(make_client):
    client = await make_client(rate_limits_enabled=True, test_mode_allowed=False)
    statuses = []
    for _ in range(11):
        resp = await client.post(
            "/api/auth/login", json={"email": "rl@example.com", "password": "x"}
        )
        statuses.append(resp.status)
        assert "X-RateLimit-Remaining" in resp.headers
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    body = await resp.json()
    assert body["error"] == "Too many attempts. Please try again later."
    assert body["retryAfter"] > 0


async def test_concurrent_registrations_same_username_one_wins(client):
    name = unique_username()
    results = await asyncio.gather(*(register(client, username=name) for _ in range(4)))
    statuses = sorted(r[0] for r in results)
    assert statuses.count(201) == 1
    assert set(statuses) <= {201, 409}
