"""``/api/test/*`` while test mode is allowed, and its toggle."""

from __future__ import annotations

from tests.helpers import make_user


async def test_mode_toggle(client):
    resp = await client.post("/api/test/mode", json={"enabled": "yes"})
    assert resp.status == 400
    assert await resp.json() == {"error": "enabled (boolean) required"}
    resp = await client.post("/api/test/mode", json={"enabled": False})
    assert await resp.json() == {"ok": True, "testMode": False}
    assert (await client.post("/api/test/cleanup-all")).status == 404
    resp = await client.post("/api/test/mode", json={"enabled": True})
    assert await resp.json() == {"ok": True, "testMode": True}
    body = await (await client.post("/api/test/cleanup-all")).json()
    assert body["ok"] is True
    assert "groupsDeleted" in body and "messagesDeleted" in body


async def test_cleanup_pair(client):
    alice = await make_user(client)
    bob = await make_user(client)
    resp = await client.post("/api/test/cleanup", headers=alice.auth, json={"recipientId": bob.id})
    assert await resp.json() == {"ok": True, "messagesDeleted": 0, "groupsDeleted": 0}
    resp = await client.post("/api/test/cleanup", headers=alice.auth, json={})
    assert resp.status == 400
    assert await resp.json() == {"error": "recipientId required"}
    resp = await client.post("/api/test/cleanup", json={"recipientId": bob.id})
    assert resp.status == 401


async def test_restore_images(client):
    user = await make_user(client)
    resp = await client.post(
        "/api/test/restore-images",
        headers=user.auth,
        json={"profileImage": "/uploads/profiles/x.jpg"},
    )
    assert await resp.json() == {"ok": True}
    me = await (await client.get("/api/users/me", headers=user.auth)).json()
    assert me["profileImage"] == "/uploads/profiles/x.jpg"
    assert me["coverImage"] is None
    resp = await client.post("/api/test/restore-images", headers=user.auth, json={"coverImage": 3})
    assert resp.status == 400


async def test_delete_user(client):
    user = await make_user(client)
    assert await (await client.delete(f"/api/test/user/{user.id}")).json() == {"ok": True}
    assert await (await client.delete("/api/test/user/not-a-uuid")).json() == {"ok": True}
    resp = await client.post(
        "/api/auth/login", json={"email": user.email, "password": "Secret!Pass1"}
    )
    assert resp.status == 401
