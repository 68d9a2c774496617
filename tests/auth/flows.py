"""Steps shared by the account-flow tests, driven exactly as the web client drives them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from tests.auth.conftest import Peers
from tests.helpers import PASSWORD, register


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
