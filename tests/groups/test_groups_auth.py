"""Every group route needs a valid bearer token; the OpenAPI spec lists them all."""

from __future__ import annotations

import uuid

import pytest

GID = str(uuid.uuid4())
UID = str(uuid.uuid4())
ROUTES = [
    ("POST", "/api/groups"),
    ("GET", "/api/groups"),
    ("GET", "/api/groups/invites"),
    ("POST", f"/api/groups/{GID}/accept"),
    ("POST", f"/api/groups/{GID}/decline"),
    ("GET", f"/api/groups/{GID}"),
    ("GET", f"/api/groups/{GID}/messages"),
    ("POST", f"/api/groups/{GID}/members"),
    ("DELETE", f"/api/groups/{GID}/members/{UID}"),
    ("PATCH", f"/api/groups/{GID}"),
    ("DELETE", f"/api/groups/{GID}"),
    ("POST", f"/api/groups/{GID}/join"),
    ("POST", f"/api/groups/{GID}/leave"),
    ("PATCH", f"/api/groups/{GID}/members/{UID}/promote"),
    ("PATCH", f"/api/groups/{GID}/members/{UID}/demote"),
    ("POST", f"/api/groups/{GID}/transfer-ownership"),
    ("POST", f"/api/groups/{GID}/step-down"),
    ("POST", f"/api/groups/{GID}/upload"),
    ("POST", f"/api/groups/{GID}/profile-image"),
    ("DELETE", f"/api/groups/{GID}/profile-image"),
    ("POST", f"/api/groups/{GID}/cover-image"),
    ("DELETE", f"/api/groups/{GID}/cover-image"),
    ("PATCH", f"/api/groups/{GID}/messages/{UID}/waveform"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_group_routes_need_a_token(client, method, path):
    resp = await client.request(method, path, json={})
    assert (resp.status, await resp.json()) == (401, {"error": "Access token required"})
    resp = await client.request(method, path, json={}, headers={"Authorization": "Bearer nope"})
    assert (resp.status, await resp.json()) == (403, {"error": "Invalid or expired token"})


async def test_group_routes_are_documented(client):
    spec = await (await client.get("/api/openapi.json")).json()
    for method, path in ROUTES:
        canonical = path.replace(GID, "{id}").replace(UID, "{memberId}")
        if canonical.endswith("/waveform"):
            canonical = canonical.replace("{memberId}", "{msgId}")
        assert method.lower() in spec["paths"][canonical], (method, canonical)
        assert spec["paths"][canonical][method.lower()]["security"] == [{"bearerAuth": []}]
