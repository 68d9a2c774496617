"""``/api/users/me``, username checks and suggestions."""

from __future__ import annotations

import re

import pytest

from tests.helpers import make_user, unique_username


async def test_get_me_shape(client):
    user = await make_user(client, gender="female")
    resp = await client.get("/api/users/me", headers=user.auth)
    assert resp.status == 200
    body = await resp.json()
    assert body["id"] == user.id
    assert body["username"] == user.username
    assert body["gender"] == "female"
    assert body["privacyOnlineStatus"] == "everyone"
    assert body["privacyPhone"] == "nobody"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", body["createdAt"])


async def test_get_me_for_deleted_user_is_404(client):
    user = await make_user(client)
    assert (await client.delete(f"/api/test/user/{user.id}")).status == 200
    resp = await client.get("/api/users/me", headers=user.auth)
    assert resp.status == 404
    assert await resp.json() == {"error": "User not found"}


async def test_update_me_partial_and_clearing(client):
    user = await make_user(client)
    resp = await client.put(
        "/api/users/me", headers=user.auth, json={"displayName": "Ally", "gender": "male"}
    )
    body = await resp.json()
    assert resp.status == 200
    assert body["displayName"] == "Ally"
    assert body["firstName"] == "Test"  # absent keys unchanged
    resp = await client.put(
        "/api/users/me", headers=user.auth, json={"firstName": "", "gender": None}
    )
    body = await resp.json()
    assert body["firstName"] is None
    assert body["gender"] is None
    assert body["displayName"] == "Ally"


@pytest.mark.parametrize(
    "payload",
    [{"gender": "robot"}, {"displayName": 5}, {"firstName": ["x"]}, {"lastName": "x" * 300}],
)
async def test_update_me_bad_input(client, payload):
    user = await make_user(client)
    resp = await client.put("/api/users/me", headers=user.auth, json=payload)
    assert resp.status == 400
    assert "error" in await resp.json()


async def test_update_me_only_touches_own_row(client):
    alice = await make_user(client)
    bob = await make_user(client)
    await client.put("/api/users/me", headers=alice.auth, json={"displayName": "Changed"})
    bob_me = await (await client.get("/api/users/me", headers=bob.auth)).json()
    assert bob_me["displayName"] == "Test User"


async def test_update_me_requires_auth(client):
    assert (await client.put("/api/users/me", json={"displayName": "x"})).status == 401


async def test_check_username(client):
    user = await make_user(client)
    resp = await client.get("/api/users/check-username", params={"username": user.username[1:]})
    assert await resp.json() == {"available": False}
    resp = await client.get("/api/users/check-username", params={"username": unique_username()})
    assert await resp.json() == {"available": True}
    # Case-sensitive, as in the original.
    resp = await client.get("/api/users/check-username", params={"username": user.username.upper()})
    assert await resp.json() == {"available": True}
    resp = await client.get("/api/users/check-username")
    assert resp.status == 400
    assert await resp.json() == {"error": "Username is required"}


async def test_suggest_username(client):
    resp = await client.get("/api/users/suggest-username", params={"username": "@alice"})
    body = await resp.json()
    assert resp.status == 200
    assert 1 <= len(body["suggestions"]) <= 3
    assert all(s.startswith("alice") and not s.startswith("@") for s in body["suggestions"])
    assert len(set(body["suggestions"])) == len(body["suggestions"])
    resp = await client.get("/api/users/suggest-username", params={"username": ""})
    assert resp.status == 400
