#!/usr/bin/env python3
"""A scripted new user's whole account life against the real app.

register → email code from the SMTP server → phone code from the Twilio
stand-in → login → login code (SMS, then email) → 2FA setup and verify →
forgot and reset the password. The app runs in-process (``create_app``) on a
loopback port against a throw-away database on the local PostgreSQL; see
``auth_demo_support.py``. Exits non-zero when any step gets a wrong answer.

    /work/main/.venv/bin/python scripts/auth_flow_demo.py
"""

from __future__ import annotations

import asyncio
import secrets
import sys

from auth_demo_support import (
    PASSWORD,
    DemoFailure,
    DemoServer,
    Steps,
    expect,
    unique_phone,
)

NEW_PASSWORD = "Demo!Reset456"


async def main() -> None:
    import pyotp

    step = Steps()
    async with DemoServer() as demo:
        name = f"demo_{secrets.token_hex(4)}"
        phone = unique_phone()
        user_id, email = await demo.register(name, phone=phone)
        step("register", f"201 userId={user_id} email={email} phone={phone}")

        subject, code = demo.email_code(email)
        expect(subject == "Verify your Chatr account", f"subject {subject!r}")
        step("verification email received by the SMTP server", f"{subject!r} code {code}")

        reply = await demo.post("/api/auth/verify-email", {"userId": user_id, "code": code})
        expect(reply.status == 200 and reply.body.get("requiresPhoneVerification"), str(reply))
        step("verify-email", f"{reply.status} {reply.body['message']}")

        sms_code = demo.sms_code(phone)
        step("phone code received by the Twilio stand-in", f"to {phone} code {sms_code}")

        reply = await demo.post("/api/auth/verify-phone", {"userId": user_id, "code": sms_code})
        expect(reply.status == 200 and reply.body.get("token"), str(reply))
        step("verify-phone", f"{reply.status} {reply.body['message']} (token issued)")

        creds = {"email": email, "password": PASSWORD}
        reply = await demo.post("/api/auth/login", creds)
        expect(reply.status == 200 and reply.body.get("verificationMethod") == "sms", str(reply))
        step("login (default method sms)", f"{reply.status} {reply.body['message']}")

        login_code = demo.sms_code(phone)
        reply = await demo.post("/api/auth/login", {**creds, "loginVerificationCode": login_code})
        expect(reply.status == 200 and reply.body.get("token"), str(reply))
        step("login with the SMS code", f"{reply.status} {reply.body['message']}")

        reply = await demo.post("/api/auth/login", {**creds, "verificationMethod": "email"})
        expect(reply.status == 200 and reply.body.get("verificationMethod") == "email", str(reply))
        subject, login_code = demo.email_code(email)
        expect(subject == "Chatr Login Verification Code", f"subject {subject!r}")
        step("login (method email)", f"{reply.status}; email {subject!r} code {login_code}")

        reply = await demo.post("/api/auth/login", {**creds, "loginVerificationCode": login_code})
        expect(reply.status == 200 and reply.body.get("token"), str(reply))
        token = reply.body["token"]
        step("login with the emailed code", f"{reply.status} user {reply.body['user']['username']}")

        reply = await demo.post("/api/auth/2fa/setup", token=token)
        expect(reply.status == 200 and reply.body["qrCode"].startswith("data:image/png"), "setup")
        secret = reply.body["secret"]
        step(
            "2FA setup",
            f"{reply.status} otpauth={reply.body['otpauth']}\n"
            f"       qrCode: PNG data URL, {len(reply.body['qrCode'])} chars",
        )

        totp = pyotp.TOTP(secret).now()
        reply = await demo.post("/api/auth/2fa/verify", {"code": totp}, token=token)
        expect(reply.status == 200 and reply.body["user"]["twoFactorEnabled"] is True, str(reply))
        token = reply.body["token"]
        step("2FA verify with a pyotp code", f"{reply.status} {reply.body['message']}")

        reply = await demo.call("GET", "/api/users/me", token=token)
        expect(reply.status == 200 and reply.body["username"] == "@" + name, str(reply))
        step("GET /api/users/me with the fresh token", f"{reply.status} {reply.body['username']}")

        reply = await demo.post("/api/auth/forgot-password", {"email": email})
        expect(reply.status == 200, str(reply))
        subject, reset_code = demo.email_code(email)
        expect(subject == "Reset your Chatr password", f"subject {subject!r}")
        step("forgot-password", f"{reply.status}; email {subject!r} code {reset_code}")

        reply = await demo.post(
            "/api/auth/reset-password",
            {"email": email, "code": reset_code, "newPassword": NEW_PASSWORD},
        )
        expect(reply.status == 200, str(reply))
        old = await demo.call("GET", "/api/users/me", token=token)
        expect(old.status == 403, f"old token still works: {old}")
        step("reset-password", f"{reply.status}; the earlier token now gets {old.status}")

        creds = {"email": email, "password": NEW_PASSWORD}
        await demo.post("/api/auth/login", {**creds, "verificationMethod": "email"})
        _subject, login_code = demo.email_code(email)
        reply = await demo.post("/api/auth/login", {**creds, "loginVerificationCode": login_code})
        expect(reply.status == 200 and reply.body.get("token"), str(reply))
        step("login with the new password", f"{reply.status} {reply.body['message']}")
    print("OK: every step answered as the contract says")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except DemoFailure as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
