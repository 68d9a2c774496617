"""resend-verification, forgot-password and the rewrite's reset-password."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from chatr_server.services.codes import generate_code
from tests.auth.flows import (
    FRONTEND,
    bearer,
    email_html,
    email_text,
    expire_code,
    logged_in,
    post,
    registered,
    verified,
)

NEW_PASSWORD = "Brand!New2pass"
FORGOT_BODY = {
    "message": "If an account exists with that email, a password reset link has been sent."
}


# ---- resend-verification ----------------------------------------------------


async def test_resend_email_code_replaces_the_old_one(peers):
    account = await registered(peers)
    old = peers.last_email_code(account.email)
    status, body = await post(
        peers.client, "/api/auth/resend-verification", {"userId": account.id, "type": "email"}
    )
    assert (status, body) == (200, {"message": "Verification code resent"})
    assert len([m for m in peers.emails if m["To"] == account.email]) == 2
    new = peers.last_email_code(account.email)
    if new != old:
        status, _ = await post(
            peers.client, "/api/auth/verify-email", {"userId": account.id, "code": old}
        )
        assert status == 401
    status, body = await post(
        peers.client, "/api/auth/verify-email", {"userId": account.id, "code": new}
    )
    assert status == 200, body


async def test_resend_login_code_uses_the_saved_method(peers):
    account, _ = await verified(peers, phone=True)
    # The last login asked for SMS: the resent login code goes by SMS too.
    sent = len(peers.sms_to(account.phone))
    await post(peers.client, "/api/auth/login", account.creds)
    assert len(peers.sms_to(account.phone)) == sent + 1
    status, body = await post(
        peers.client, "/api/auth/resend-verification", {"userId": account.id, "type": "login"}
    )
    assert status == 200, body
    assert len(peers.sms_to(account.phone)) == sent + 2
    code = peers.last_sms_code(account.phone)
    status, body = await post(
        peers.client, "/api/auth/login", {**account.creds, "loginVerificationCode": code}
    )
    assert status == 200, body


async def test_resend_login_code_defaults_to_email(peers):
    account, _ = await verified(peers)
    emails_before = len(peers.emails)
    status, _ = await post(
        peers.client, "/api/auth/resend-verification", {"userId": account.id, "type": "login"}
    )
    assert status == 200
    assert len(peers.emails) == emails_before + 1
    assert peers.last_email(account.email)["Subject"] == "Chatr Login Verification Code"
    code = peers.last_email_code(account.email)
    status, _ = await post(
        peers.client, "/api/auth/login", {**account.creds, "loginVerificationCode": code}
    )
    assert status == 200


async def test_resend_errors(peers):
    account, _ = await verified(peers)
    cases = [
        ({"userId": account.id}, 400, "userId and type are required"),
        ({"type": "email"}, 400, "userId and type are required"),
        ({"userId": "nope", "type": "email"}, 404, "User not found"),
        (
            {"userId": "00000000-0000-4000-8000-000000000000", "type": "email"},
            404,
            "User not found",
        ),
        ({"userId": account.id, "type": "email"}, 400, "Email already verified"),
        ({"userId": account.id, "type": "sms"}, 400, 'Invalid type. Must be "email" or "login".'),
    ]
    for body, status, error in cases:
        got = await post(peers.client, "/api/auth/resend-verification", body)
        assert got == (status, {"error": error}), body
    status, body = await post(
        peers.client, "/api/auth/resend-verification", {"userId": ["x"], "type": {}}
    )
    assert status == 400 and "error" in body


# ---- forgot-password ----------------------------------------------------------


async def test_forgot_password_emails_code_and_link(peers):
    account, _ = await verified(peers)
    status, body = await post(peers.client, "/api/auth/forgot-password", {"email": account.email})
    assert (status, body) == (200, FORGOT_BODY)
    message = peers.last_email(account.email)
    assert message["Subject"] == "Reset your Chatr password"
    code = peers.last_email_code(account.email)
    link = f"{FRONTEND}/reset-password?code={code}&email={quote(account.email, safe='')}"
    assert link in email_text(message)
    assert link.replace("&", "&amp;") in email_html(message)
    assert "15 minutes" in email_text(message)


async def test_forgot_password_same_answer_for_unknown_email(peers):
    before = len(peers.emails)
    status, body = await post(
        peers.client, "/api/auth/forgot-password", {"email": "nobody-here@example.com"}
    )
    assert (status, body) == (200, FORGOT_BODY)
    assert len(peers.emails) == before


async def test_forgot_password_requires_email(peers):
    assert await post(peers.client, "/api/auth/forgot-password", {}) == (
        400,
        {"error": "Email is required"},
    )
    status, _ = await post(peers.client, "/api/auth/forgot-password", {"email": 42})
    assert status == 400


# ---- reset-password -------------------------------------------------------------


async def _reset_code(peers, account) -> str:
    await post(peers.client, "/api/auth/forgot-password", {"email": account.email})
    return peers.last_email_code(account.email)


async def test_reset_password_end_to_end(peers):
    account, _ = await verified(peers)
    old_token = await logged_in(peers, account)
    assert (await peers.client.get("/api/users/me", headers=bearer(old_token))).status == 200
    code = await _reset_code(peers, account)

    status, body = await post(
        peers.client,
        "/api/auth/reset-password",
        {"email": account.email, "code": code, "newPassword": NEW_PASSWORD},
    )
    assert status == 200, body
    assert body == {"message": "Password has been reset. Please log in with your new password."}

    # Every earlier token is revoked, even one issued in the same second.
    resp = await peers.client.get("/api/users/me", headers=bearer(old_token))
    assert resp.status == 403
    assert await resp.json() == {"error": "Token has been revoked"}
    # The old password is gone; the new one works and its token is good.
    status, body = await post(peers.client, "/api/auth/login", account.creds)
    assert (status, body) == (401, {"error": "Invalid credentials"})
    account.password = NEW_PASSWORD
    new_token = await logged_in(peers, account)
    assert (await peers.client.get("/api/users/me", headers=bearer(new_token))).status == 200

    # The code was single use.
    status, body = await post(
        peers.client,
        "/api/auth/reset-password",
        {"email": account.email, "code": code, "newPassword": "Another!Pass3"},
    )
    assert (status, body) == (401, {"error": "Invalid or expired reset code"})


async def test_reset_password_rules_do_not_burn_the_code(peers):
    account, _ = await verified(peers)
    code = await _reset_code(peers, account)
    for weak, error in [
        ("short!A", "Password must be at least 8 characters"),
        ("nocapital!1", "Password must include at least one capital letter"),
        ("NoSpecial12", "Password must include at least one special character"),
    ]:
        got = await post(
            peers.client,
            "/api/auth/reset-password",
            {"email": account.email, "code": code, "newPassword": weak},
        )
        assert got == (400, {"error": error})
    status, body = await post(
        peers.client,
        "/api/auth/reset-password",
        {"email": account.email, "code": code, "password": NEW_PASSWORD},
    )
    assert status == 200, body


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "a@b.co"},
        {"email": "a@b.co", "code": "123456"},
        {"code": "1", "password": "x"},
    ],
)
async def test_reset_password_missing_fields(peers, body):
    assert await post(peers.client, "/api/auth/reset-password", body) == (
        400,
        {"error": "Email, code and new password are required"},
    )


async def test_reset_password_unknown_email_looks_like_a_wrong_code(peers):
    got = await post(
        peers.client,
        "/api/auth/reset-password",
        {"email": "ghost@example.com", "code": "123456", "newPassword": NEW_PASSWORD},
    )
    assert got == (401, {"error": "Invalid or expired reset code"})


async def test_reset_password_expired_code(peers, db):
    account, _ = await verified(peers)
    code = await _reset_code(peers, account)
    await expire_code(db, account.id, "reset")
    got = await post(
        peers.client,
        "/api/auth/reset-password",
        {"email": account.email, "code": code, "newPassword": NEW_PASSWORD},
    )
    assert got == (401, {"error": "Reset code expired. Please request a new one."})


async def test_reset_password_wrong_codes_burn_the_code(peers):
    account, _ = await verified(peers)
    code = await _reset_code(peers, account)
    statuses = []
    for _ in range(5):
        wrong = generate_code()
        while wrong == code:
            wrong = generate_code()
        status, _ = await post(
            peers.client,
            "/api/auth/reset-password",
            {"email": account.email, "code": wrong, "newPassword": NEW_PASSWORD},
        )
        statuses.append(status)
    assert statuses == [401, 401, 401, 401, 429]
    status, _ = await post(
        peers.client,
        "/api/auth/reset-password",
        {"email": account.email, "code": code, "newPassword": NEW_PASSWORD},
    )
    assert status == 401
    # The password did not change.
    assert await logged_in(peers, account)


async def test_test_mode_bypass_does_not_reset_passwords(client):
    """000000 is only for login/verify-email/verify-phone, even with test mode on."""
    from tests.helpers import make_user

    user = await make_user(client)
    await client.post("/api/auth/forgot-password", json={"email": user.email})
    resp = await client.post(
        "/api/auth/reset-password",
        json={"email": user.email, "code": "000000", "newPassword": NEW_PASSWORD},
    )
    assert resp.status == 401
