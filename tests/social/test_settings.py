"""``PUT /api/users/me/settings`` (rest.md §3)."""

from __future__ import annotations

from tests.helpers import make_user


async def me(client, user):
    return await (await client.get("/api/users/me", headers=user.auth)).json()


async def test_update_settings(client):
    user = await make_user(client)
    resp = await client.put(
        "/api/users/me/settings",
        headers=user.auth,
        json={
            "privacyEmail": "everyone",
            "privacyOnlineStatus": "nobody",
            "privacyPhone": "shouting",  # invalid value: ignored
            "privacyGender": 7,  # wrong type: ignored
            "colour": "blue",  # unknown key: ignored
        },
    )
    assert resp.status == 200
    assert await resp.json() == {"ok": True}
    body = await me(client, user)
    assert body["privacyEmail"] == "everyone"
    assert body["privacyOnlineStatus"] == "nobody"
    assert body["privacyPhone"] == "nobody"  # unchanged default
    assert body["privacyGender"] == "nobody"
    assert body["privacyFullName"] == "everyone"

    resp = await client.put(
        "/api/users/me/settings",
        headers=user.auth,
        json={
            "privacyPhone": "friends",
            "privacyFullName": "nobody",
            "privacyGender": "everyone",
            "privacyJoinedDate": "friends",
        },
    )
    assert await resp.json() == {"ok": True}
    body = await me(client, user)
    assert (body["privacyPhone"], body["privacyFullName"]) == ("friends", "nobody")
    assert (body["privacyGender"], body["privacyJoinedDate"]) == ("everyone", "friends")
    assert body["privacyEmail"] == "everyone"  # untouched by the second call


async def test_no_valid_settings(client):
    user = await make_user(client)
    for body in ({}, {"privacyEmail": "EVERYONE"}, {"privacyEmail": None}, {"x": "nobody"}):
        resp = await client.put("/api/users/me/settings", headers=user.auth, json=body)
        assert resp.status == 400
        assert await resp.json() == {"error": "No valid settings provided"}
    resp = await client.put("/api/users/me/settings", headers=user.auth, json=["privacyEmail"])
    assert resp.status == 400
    resp = await client.put("/api/users/me/settings", headers=user.auth, data=b"{")
    assert resp.status == 400


async def test_settings_auth(client):
    resp = await client.put("/api/users/me/settings", json={"privacyEmail": "nobody"})
    assert resp.status == 401
    assert await resp.json() == {"error": "Access token required"}
    user = await make_user(client)
    assert (await client.delete(f"/api/test/user/{user.id}")).status == 200
    resp = await client.put(
        "/api/users/me/settings", headers=user.auth, json={"privacyEmail": "nobody"}
    )
    assert resp.status == 404
    assert await resp.json() == {"error": "User not found"}
