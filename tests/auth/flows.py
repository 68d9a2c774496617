"""Steps shared by the account-flow tests, driven exactly as the web client drives them."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from tests.helpers import PASSWORD, register
from tests.peers import SmtpSink, TwilioFake

CODE_RE = re.compile(r"\b(\d{6})\b")
TWILIO_SID = "AC" + "a1" * 16
TWILIO_TOKEN = "twilio-test-token"
TWILIO_FROM = "+447700900001"
FRONTEND = "https://app.chatr.test"


@dataclass
class Peers:
    """The app's test client plus what its mail and SMS peers received."""

    client: Any
    smtp: SmtpSink
    twilio: TwilioFake

    @property
    def emails(self) -> list[EmailMessage]:
        return [message for _from, _to, message in self.smtp.messages]

    def last_email(self, to: str | None = None) -> EmailMessage:
        for _from, rcpts, message in reversed(self.smtp.messages):
            if to is None or to in rcpts:
                return message
        raise AssertionError(f"no email to {to}")

    def last_email_code(self, to: str | None = None) -> str:
        text = email_text(self.last_email(to))
        match = CODE_RE.search(text)
        assert match, text
        return match.group(1)

    def sms_to(self, number: str) -> list[str]:
        return [r["form"]["Body"] for r in self.twilio.requests if r["form"]["To"] == number]

    def last_sms_code(self, number: str) -> str:
        bodies = self.sms_to(number)
        assert bodies, f"no SMS to {number}"
        match = CODE_RE.search(bodies[-1])
        assert match, bodies[-1]
        return match.group(1)


def email_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def email_html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return part.get_content()


def unique_phone() -> str:
    """A UK mobile number in E.164, different for every call."""
    return "+4477009" + f"{secrets.randbelow(100_000):05d}"


@dataclass
class Account:
    __test__ = False
    id: str
    email: str
    username: str
    phone: str | None
    password: str = PASSWORD

    @property
    def creds(self) -> dict[str, str]:
        return {"email": self.email, "password": self.password}


async def post(client: Any, path: str, body: dict[str, Any], **kwargs: Any) -> tuple[int, Any]:
    resp = await client.post(path, json=body, **kwargs)
    return resp.status, await resp.json()


async def registered(peers: Peers, *, phone: bool = False) -> Account:
    """Register (optionally with a phone); the verification email is in the SMTP sink."""
    number = unique_phone() if phone else None
    overrides = {"phoneNumber": number} if number else {}
    status, body, sent = await register(peers.client, **overrides)
    assert status == 201, body
    return Account(body["userId"], sent["email"], "@" + sent["username"], number)


async def verified(peers: Peers, *, phone: bool = False) -> tuple[Account, str]:
    """Register and verify with the delivered codes; returns the account and its token."""
    account = await registered(peers, phone=phone)
    code = peers.last_email_code(account.email)
    status, body = await post(
        peers.client, "/api/auth/verify-email", {"userId": account.id, "code": code}
    )
    assert status == 200, body
    if not phone:
        return account, body["token"]
    assert account.phone is not None
    sms_code = peers.last_sms_code(account.phone)
    status, body = await post(
        peers.client, "/api/auth/verify-phone", {"userId": account.id, "code": sms_code}
    )
    assert status == 200, body
    return account, body["token"]


async def logged_in(peers: Peers, account: Account) -> str:
    """Two-step login with an emailed code; returns the token."""
    status, body = await post(
        peers.client, "/api/auth/login", {**account.creds, "verificationMethod": "email"}
    )
    assert status == 200 and body.get("requiresLoginVerification"), body
    code = peers.last_email_code(account.email)
    status, body = await post(
        peers.client, "/api/auth/login", {**account.creds, "loginVerificationCode": code}
    )
    assert status == 200, body
    return body["token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def expire_code(db: Any, user_id: str, purpose: str) -> None:
    status = await db.execute(
        "UPDATE verification_codes SET expires_at = now() - interval '1 minute' "
        "WHERE user_id = $1 AND purpose = $2",
        user_id,
        purpose,
    )
    assert status == "UPDATE 1", status
