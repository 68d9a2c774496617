"""Registration, verification and login codes delivered by real SMTP and a Twilio stand-in."""

from __future__ import annotations

from chatr_server.appkeys import SERVICES
from chatr_server.services.codes import generate_code
from tests.auth.flows import (
    FRONTEND,
    TWILIO_FROM,
    TWILIO_SID,
    TWILIO_TOKEN,
    bearer,
    email_html,
    email_text,
    expire_code,
    logged_in,
    post,
    registered,
    verified,
)


async def test_registration_with_phone_end_to_end(peers):
    account = await registered(peers, phone=True)
    message = peers.last_email(account.email)
    assert message["Subject"] == "Verify your Chatr account"
    code = peers.last_email_code(account.email)
    text, html = email_text(message), email_html(message)
    assert code in text and code in html
    assert "15 minutes" in text

    status, body = await post(
        peers.client, "/api/auth/verify-email", {"userId": account.id, "code": code}
    )
    assert status == 200, body
    assert body == {
        "message": "Email verified successfully. Please verify your phone number.",
        "requiresPhoneVerification": True,
        "phoneNumber": account.phone,
        "userId": account.id,
    }
    sms = peers.twilio.requests[-1]
    assert sms["form"]["To"] == account.phone
    assert sms["form"]["From"] == TWILIO_FROM
    assert sms["user"] == TWILIO_SID and sms["password"] == TWILIO_TOKEN
    sms_code = peers.last_sms_code(account.phone)
    assert "Chatr" in sms["form"]["Body"]

    status, body = await post(
        peers.client, "/api/auth/verify-phone", {"userId": account.id, "code": sms_code}
    )
    assert status == 200, body
    assert body["message"] == "Phone verified successfully. Registration complete!"
    assert body["user"]["phoneVerified"] is True and body["user"]["emailVerified"] is True
    resp = await peers.client.get("/api/users/me", headers=bearer(body["token"]))
    assert resp.status == 200


async def test_login_code_by_sms(peers):
    account, _ = await verified(peers, phone=True)
    status, body = await post(peers.client, "/api/auth/login", account.creds)
    assert status == 200
    assert body == {
        "requiresLoginVerification": True,
        "verificationMethod": "sms",
        "message": "Please check your phone for the verification code",
        "userId": account.id,
    }
    code = peers.last_sms_code(account.phone)
    status, body = await post(
        peers.client, "/api/auth/login", {**account.creds, "loginVerificationCode": code}
    )
    assert status == 200, body
    assert body["message"] == "Login successful"
    assert body["user"]["id"] == account.id


async def test_login_code_by_email_has_contract_subject_and_greeting(peers):
    account, _ = await verified(peers)
    status, body = await post(
        peers.client, "/api/auth/login", {**account.creds, "verificationMethod": "email"}
    )
    assert status == 200
    assert body["verificationMethod"] == "email"
    message = peers.last_email(account.email)
    assert message["Subject"] == "Chatr Login Verification Code"
    assert account.username in email_text(message)
    assert "15 minutes" in email_text(message)
    assert await logged_in(peers, account)


async def test_login_code_is_single_use(peers):
    account, _ = await verified(peers)
    await post(peers.client, "/api/auth/login", {**account.creds, "verificationMethod": "email"})
    code = peers.last_email_code(account.email)
    creds = {**account.creds, "loginVerificationCode": code}
    assert (await post(peers.client, "/api/auth/login", creds))[0] == 200
    status, body = await post(peers.client, "/api/auth/login", creds)
    assert status == 400
    assert body == {"error": "No verification code found. Please log in again."}


async def test_expired_login_code(peers, db):
    account, _ = await verified(peers)
    await post(peers.client, "/api/auth/login", {**account.creds, "verificationMethod": "email"})
    code = peers.last_email_code(account.email)
    await expire_code(db, account.id, "login")
    status, body = await post(
        peers.client, "/api/auth/login", {**account.creds, "loginVerificationCode": code}
    )
    assert status == 401
    assert body == {"error": "Verification code has expired. Please log in again."}


async def test_expired_email_code(peers, db):
    account = await registered(peers)
    code = peers.last_email_code(account.email)
    await expire_code(db, account.id, "email")
    status, body = await post(
        peers.client, "/api/auth/verify-email", {"userId": account.id, "code": code}
    )
    assert status == 401
    assert body == {"error": "Verification code expired. Please request a new one."}


async def test_wrong_login_codes_burn_the_code(peers):
    account, _ = await verified(peers)
    await post(peers.client, "/api/auth/login", {**account.creds, "verificationMethod": "email"})
    code = peers.last_email_code(account.email)
    statuses = []
    for _ in range(5):
        wrong = generate_code()
        while wrong == code:
            wrong = generate_code()
        statuses.append(
            (
                await post(
                    peers.client,
                    "/api/auth/login",
                    {**account.creds, "loginVerificationCode": wrong},
                )
            )[0]
        )
    assert statuses == [401, 401, 401, 401, 429]
    # The right code no longer works: it was burned by the fifth wrong guess.
    status, body = await post(
        peers.client, "/api/auth/login", {**account.creds, "loginVerificationCode": code}
    )
    assert status == 400
    assert body == {"error": "No verification code found. Please log in again."}


async def test_new_code_replaces_the_old_one(peers):
    """The original kept two copies that could disagree (behaviors.md §1 quirk)."""
    account = await registered(peers)
    first = peers.last_email_code(account.email)
    status, body = await post(peers.client, "/api/auth/login", account.creds)
    assert body["requiresEmailVerification"] is True
    second = peers.last_email_code(account.email)
    if first != second:
        status, body = await post(
            peers.client, "/api/auth/verify-email", {"userId": account.id, "code": first}
        )
        assert status == 401
    status, body = await post(
        peers.client, "/api/auth/verify-email", {"userId": account.id, "code": second}
    )
    assert status == 200, body


async def test_unverified_phone_login_sends_sms(peers):
    account = await registered(peers, phone=True)
    code = peers.last_email_code(account.email)
    await post(peers.client, "/api/auth/verify-email", {"userId": account.id, "code": code})
    sent_before = len(peers.sms_to(account.phone))
    status, body = await post(peers.client, "/api/auth/login", account.creds)
    assert status == 200
    assert body == {
        "requiresPhoneVerification": True,
        "message": "Please verify your phone number before logging in",
        "userId": account.id,
    }
    assert len(peers.sms_to(account.phone)) == sent_before + 1
    sms_code = peers.last_sms_code(account.phone)
    status, body = await post(
        peers.client, "/api/auth/verify-phone", {"userId": account.id, "code": sms_code}
    )
    assert status == 200, body


async def test_bypass_code_is_refused_without_test_mode(peers):
    account = await registered(peers, phone=True)
    for path in ("/api/auth/verify-email", "/api/auth/verify-phone"):
        status, _ = await post(peers.client, path, {"userId": account.id, "code": "000000"})
        assert status in (400, 401)
    status, body = await post(
        peers.client, "/api/auth/login", {**account.creds, "loginVerificationCode": "000000"}
    )
    assert status == 200
    assert "token" not in body and body["requiresEmailVerification"] is True


async def test_test_mode_refused_in_production(make_peers):
    """Settings built in code that ask for production and test mode get production."""
    peers = await make_peers(production=True, test_mode_allowed=True)
    resp = await peers.client.post("/api/test/mode", json={"enabled": True})
    assert resp.status == 404
    account = await registered(peers)
    status, body = await post(
        peers.client, "/api/auth/verify-email", {"userId": account.id, "code": "000000"}
    )
    assert status == 401
    assert body == {"error": "Invalid verification code"}
    # And the real email still went out (test mode would have suppressed it).
    assert peers.last_email(account.email)["Subject"] == "Verify your Chatr account"


async def test_verification_link_target(peers):
    account = await registered(peers)
    code = peers.last_email_code(account.email)
    notifier = peers.client.app[SERVICES].notifier
    assert notifier.verify_url(code, account.id) == (
        f"{FRONTEND}/verify?code={code}&userId={account.id}"
    )
