"""Small helpers that drive the API the way the web client does."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

PASSWORD = "Secret!Pass1"


def unique_username(prefix: str = "u") -> str:
    return f"{prefix}_{secrets.token_hex(5)}"


@dataclass
class TestUser:
    __test__ = False
    id: str
    username: str
    email: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def register(client: Any, **overrides: Any) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """POST /api/auth/register; returns (status, body, the request body sent)."""
    name = unique_username()
    body = {
        "email": f"{name}@example.com",
        "username": name,
        "password": PASSWORD,
        "firstName": "Test",
        "lastName": "User",
    }
    body.update(overrides)
    body = {k: v for k, v in body.items() if v is not ...}
    resp = await client.post("/api/auth/register", json=body)
    return resp.status, await resp.json(), body


async def make_user(client: Any, **overrides: Any) -> TestUser:
    """Register and log in with the test-mode bypass code."""
    status, data, sent = await register(client, **overrides)
    assert status == 201, data
    resp = await client.post(
        "/api/auth/login",
        json={
            "email": sent["email"],
            "password": sent["password"],
            "loginVerificationCode": "000000",
        },
    )
    login = await resp.json()
    assert resp.status == 200, login
    return TestUser(login["user"]["id"], login["user"]["username"], sent["email"], login["token"])
