#!/usr/bin/env python3
"""What the account routes refuse: wrong, expired, reused and over-guessed codes, rate limits.

Runs the real app in-process against a throw-away database with test mode off
and rate limits on (see ``auth_demo_support.py``), and checks every refusal
gets the contract's status and body. Exits non-zero when one does not.

    /work/main/.venv/bin/python scripts/auth_refusals_demo.py
"""

from __future__ import annotations

import asyncio
import secrets
import sys

from auth_demo_support import PASSWORD, DemoFailure, DemoServer, Reply, Steps, expect


def other_code(code: str) -> str:
    """A 6-digit code that is certainly not ``code``."""
    return f"{(int(code) - 100_000 + 1) % 900_000 + 100_000:06d}"


def check(reply: Reply, status: int, error: str) -> str:
    got = reply.body.get("error") if isinstance(reply.body, dict) else reply.body
    expect(reply.status == status and got == error, f"wanted {status} {error!r}, got {reply}")
    return f"{reply.status} {got}"


async def verified_user(demo: DemoServer) -> tuple[str, str]:
    name = f"refuse_{secrets.token_hex(4)}"
    user_id, email = await demo.register(name)
    _subject, code = demo.email_code(email)
    reply = await demo.post("/api/auth/verify-email", {"userId": user_id, "code": code})
    expect(reply.status == 200, f"verify-email {reply}")
    return user_id, email


async def main() -> None:
    step = Steps()
    async with DemoServer(rate_limits=True) as demo:
        # Wrong code, and the test-mode bypass code when test mode is off.
        user_id, email = await demo.register(f"refuse_{secrets.token_hex(4)}")
        _subject, code = demo.email_code(email)
        reply = await demo.post(
            "/api/auth/verify-email", {"userId": user_id, "code": other_code(code)}
        )
        step("wrong email code", check(reply, 401, "Invalid verification code"))
        reply = await demo.post("/api/auth/verify-email", {"userId": user_id, "code": "000000"})
        step("bypass code 000000 without test mode", check(reply, 401, "Invalid verification code"))

        # Expired code.
        await demo.expire_code(user_id, "email")
        reply = await demo.post("/api/auth/verify-email", {"userId": user_id, "code": code})
        step(
            "expired email code (expires_at moved into the past)",
            check(reply, 401, "Verification code expired. Please request a new one."),
        )

        # Reused login code.
        user_id, email = await verified_user(demo)
        creds = {"email": email, "password": PASSWORD, "verificationMethod": "email"}
        await demo.post("/api/auth/login", creds)
        _subject, code = demo.email_code(email)
        first = await demo.post("/api/auth/login", {**creds, "loginVerificationCode": code})
        expect(first.status == 200, f"first use {first}")
        reply = await demo.post("/api/auth/login", {**creds, "loginVerificationCode": code})
        step(
            "login code used a second time",
            check(reply, 400, "No verification code found. Please log in again."),
        )

        # Too many wrong guesses burn the code.
        await demo.post("/api/auth/login", creds)
        _subject, code = demo.email_code(email)
        wrong = other_code(code)
        statuses = []
        for _ in range(5):
            r = await demo.post("/api/auth/login", {**creds, "loginVerificationCode": wrong})
            statuses.append(r.status)
        expect(statuses == [401, 401, 401, 401, 429], f"wrong-guess statuses {statuses}")
        reply = await demo.post("/api/auth/login", {**creds, "loginVerificationCode": code})
        step(
            "five wrong login codes, then the right one",
            f"guesses {statuses}; right code now: "
            + check(reply, 400, "No verification code found. Please log in again."),
        )

        # Reset codes: single use too.
        await demo.post("/api/auth/forgot-password", {"email": email})
        _subject, reset = demo.email_code(email)
        ok = await demo.post(
            "/api/auth/reset-password", {"email": email, "code": reset, "newPassword": "New!Pass99"}
        )
        expect(ok.status == 200, f"reset {ok}")
        reply = await demo.post(
            "/api/auth/reset-password", {"email": email, "code": reset, "newPassword": "Other!P99"}
        )
        step("reset code used a second time", check(reply, 401, "Invalid or expired reset code"))

        # Stranger re-registering an unverified account (SEC-9).
        name = f"refuse_{secrets.token_hex(4)}"
        _victim, victim_email = await demo.register(name)
        reply = await demo.post(
            "/api/auth/register",
            {
                "email": victim_email,
                "username": f"thief_{secrets.token_hex(3)}",
                "password": "Thief!Pass1",
                "firstName": "T",
                "lastName": "H",
            },
        )
        expect(reply.status == 409, f"takeover answered {reply}")
        step("stranger re-registers an unverified email", f"{reply.status} {reply.body['error']}")

        # Rate limit: resend-verification, 3 per 5 minutes per address.
        user_id, _email = await demo.register(f"refuse_{secrets.token_hex(4)}")
        seen = []
        for _ in range(4):
            r = await demo.post(
                "/api/auth/resend-verification", {"userId": user_id, "type": "email"}
            )
            seen.append(f"{r.status}/{r.headers.get('X-RateLimit-Remaining')}")
        check(r, 429, "Too many attempts. Please try again later.")
        expect(0 < r.body.get("retryAfter", 0) <= 300, f"retryAfter {r.body}")
        step(
            "resend-verification x4 (status/X-RateLimit-Remaining)",
            f"{' '.join(seen)}; retryAfter={r.body['retryAfter']}s",
        )
    print("OK: every refusal answered as the contract says")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except DemoFailure as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
