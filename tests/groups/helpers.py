"""Helpers to build groups through the API."""

from __future__ import annotations

from typing import Any

from chatr_server.appkeys import SERVICES
from tests.helpers import TestUser, make_user


async def create_group(
    client: Any, owner: TestUser, members: list[TestUser] = (), **body: Any
) -> dict[str, Any]:
    payload = {"name": "Team", "memberIds": [m.id for m in members], **body}
    resp = await client.post("/api/groups", json=payload, headers=owner.auth)
    assert resp.status == 200, await resp.text()
    return (await resp.json())["group"]


async def accept(client: Any, user: TestUser, group_id: str) -> dict[str, Any]:
    resp = await client.post(f"/api/groups/{group_id}/accept", headers=user.auth)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def group_with(
    client: Any, owner: TestUser, accepted: list[TestUser] = (), pending: list[TestUser] = ()
) -> str:
    """A group owned by ``owner`` with the given accepted and pending members."""
    group = await create_group(client, owner, [*accepted, *pending])
    for user in accepted:
        await accept(client, user, group["id"])
    return group["id"]


async def users(client: Any, count: int) -> list[TestUser]:
    return [await make_user(client) for _ in range(count)]


async def set_role(client: Any, group_id: str, user: TestUser, role: str) -> None:
    """Set a role directly in the database (test setup only)."""
    pool = client.app[SERVICES].pool
    await pool.execute(
        "UPDATE group_members SET role = $3 WHERE group_id = $1 AND user_id = $2",
        group_id,
        user.id,
        role,
    )
