"""Helpers for the widget, support-inbox, contact and link-preview tests (and the
authorization tests, which reuse the support agent and guest set-up)."""

from __future__ import annotations

from typing import Any

from chatr_server.appkeys import SERVICES
from tests.helpers import TestUser, make_user


def pool(client: Any) -> Any:
    return client.app[SERVICES].pool


async def make_agent(client: Any, **overrides: Any) -> TestUser:
    """A fresh verified user made THE support agent (the flag cleared everywhere else)."""
    user = await make_user(client, **overrides)
    async with pool(client).acquire() as conn:
        await conn.execute("UPDATE users SET is_support = false WHERE is_support")
        await conn.execute(
            "UPDATE users SET is_support = true, email_verified = true WHERE id = $1", user.id
        )
    return user


async def clear_agents(client: Any) -> None:
    await pool(client).execute("UPDATE users SET is_support = false WHERE is_support")


async def start_guest(client: Any, **body: Any) -> dict[str, Any]:
    """POST /api/widget/guest-session and return the body (asserting 200)."""
    body.setdefault("guestName", "Visitor")
    resp = await client.post("/api/widget/guest-session", json=body)
    data = await resp.json()
    assert resp.status == 200, data
    return data


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
