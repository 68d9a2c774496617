"""Profile and cover pictures: upload, replace, delete, events (rest.md §3, behaviors.md §10)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from aiohttp import FormData
from PIL import Image

from chatr_server.appkeys import SERVICES
from chatr_server.services.uploads import MAX_PROFILE_IMAGE
from tests.chat_rest.helpers import befriend, block, conversation, jpeg_bytes, png_bytes
from tests.helpers import make_user


def image_form(field: str, data: bytes, content_type: str = "image/png") -> FormData:
    body = FormData(quote_fields=False)
    body.add_field(field, data, filename="me.png", content_type=content_type)
    return body


def stored(client, url: str) -> Path:
    return Path(client.server.app[SERVICES].settings.uploads_dir) / url.removeprefix("/uploads/")


def dimensions(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "JPEG"
        return image.size


@pytest.fixture
async def test_mode_switch(client):
    """Call to switch test mode off (after creating users: login needs the bypass)."""

    async def off() -> None:
        resp = await client.post("/api/test/mode", json={"enabled": False})
        assert resp.status == 200

    yield off
    await client.post("/api/test/mode", json={"enabled": True})


async def test_profile_image_variants_and_replacement(client, db):
    user = await make_user(client)
    resp = await client.post(
        "/api/users/profile-image", data=image_form("profileImage", png_bytes()), headers=user.auth
    )
    assert resp.status == 200, await resp.text()
    url = (await resp.json())["url"]
    assert url.startswith(f"/uploads/profiles/{user.id}-") and url.endswith(".jpg")
    full = stored(client, url)
    md = full.with_name(full.stem + "-md.jpg")
    sm = full.with_name(full.stem + "-sm.jpg")
    assert dimensions(full) == (400, 400)
    assert dimensions(md) == (320, 320)
    assert dimensions(sm) == (96, 96)
    assert await db.fetchval("SELECT profile_image FROM users WHERE id = $1", user.id) == url
    me = await (await client.get("/api/users/me", headers=user.auth)).json()
    assert me["profileImage"] == url
    # The variants are served from /uploads.
    served = await client.get(url.replace(".jpg", "-sm.jpg"))
    assert served.status == 200 and served.headers["Content-Type"] == "image/jpeg"

    resp = await client.post(
        "/api/users/profile-image",
        data=image_form("profileImage", jpeg_bytes((800, 300)), "image/jpeg"),
        headers=user.auth,
    )
    new_url = (await resp.json())["url"]
    assert new_url != url
    assert not full.exists() and not md.exists() and not sm.exists()
    assert stored(client, new_url).exists()

    resp = await client.delete("/api/users/profile-image", headers=user.auth)
    assert await resp.json() == {"message": "Profile image deleted successfully"}
    assert not stored(client, new_url).exists()
    assert await db.fetchval("SELECT profile_image FROM users WHERE id = $1", user.id) is None
    resp = await client.delete("/api/users/profile-image", headers=user.auth)
    assert await resp.json() == {"message": "No profile image to delete"}


async def test_cover_image(client, db):
    user = await make_user(client)
    resp = await client.post(
        "/api/users/cover-image",
        data=image_form("coverImage", png_bytes((3000, 500)), "image/png"),
        headers=user.auth,
    )
    assert resp.status == 200
    url = (await resp.json())["url"]
    assert url.startswith(f"/uploads/covers/{user.id}-")
    full = stored(client, url)
    assert dimensions(full) == (1200, 600)
    assert dimensions(full.with_name(full.stem + "-sm.jpg")) == (600, 300)
    assert await db.fetchval("SELECT cover_image FROM users WHERE id = $1", user.id) == url
    resp = await client.delete("/api/users/cover-image", headers=user.auth)
    assert await resp.json() == {"message": "Cover image deleted successfully"}
    assert not full.exists()
    resp = await client.delete("/api/users/cover-image", headers=user.auth)
    assert await resp.json() == {"message": "No cover image to delete"}


async def test_foreign_previous_image_is_never_deleted(client, db):
    """A stored URL outside profiles/ (e.g. a restored test image) is not ours to remove."""
    user = await make_user(client)
    victim = stored(client, "/uploads/messages/keep-me.txt")
    victim.parent.mkdir(parents=True, exist_ok=True)
    victim.write_text("keep")
    await db.execute(
        "UPDATE users SET profile_image = '/uploads/messages/keep-me.txt' WHERE id = $1", user.id
    )
    resp = await client.delete("/api/users/profile-image", headers=user.auth)
    assert resp.status == 200
    assert victim.exists()


@pytest.mark.parametrize(
    ("path", "field", "data", "content_type", "status"),
    [
        ("/api/users/profile-image", "profileImage", b"GIF89a" + b"\x00" * 40, "image/gif", 415),
        ("/api/users/profile-image", "profileImage", b"not an image", "image/png", 415),
        ("/api/users/cover-image", "coverImage", b"%PDF-1.4 ...", "application/pdf", 415),
        # PNG magic, then garbage: sniffs as PNG but cannot be decoded.
        (
            "/api/users/profile-image",
            "profileImage",
            b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
            "image/png",
            400,
        ),
        ("/api/users/profile-image", "wrongField", png_bytes(), "image/png", 400),
        (
            "/api/users/profile-image",
            "profileImage",
            b"a" * (MAX_PROFILE_IMAGE + 1),
            "image/png",
            413,
        ),
    ],
)
async def test_image_rejections(client, db, path, field, data, content_type, status):
    user = await make_user(client)
    resp = await client.post(path, data=image_form(field, data, content_type), headers=user.auth)
    assert resp.status == status
    assert "error" in await resp.json()
    row = await db.fetchrow("SELECT profile_image, cover_image FROM users WHERE id = $1", user.id)
    assert row["profile_image"] is None and row["cover_image"] is None


async def test_image_routes_need_a_token(client):
    for method, path in (
        ("POST", "/api/users/profile-image"),
        ("POST", "/api/users/cover-image"),
        ("DELETE", "/api/users/profile-image"),
        ("DELETE", "/api/users/cover-image"),
    ):
        resp = await client.request(method, path, data=image_form("profileImage", png_bytes()))
        assert resp.status == 401


async def test_decode_failure_message(client):
    user = await make_user(client)
    resp = await client.post(
        "/api/users/profile-image",
        data=image_form("profileImage", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
        headers=user.auth,
    )
    body = await resp.json()
    assert body["error"] == "Upload failed" and body["message"]


async def test_profile_update_goes_to_connected_users_only(client, db, bus, test_mode_switch):
    me = await make_user(client)
    friend = await make_user(client)
    partner = await make_user(client)
    requester = await make_user(client)
    blocked = await make_user(client)
    stranger = await make_user(client)
    pending_friend = await make_user(client)
    await befriend(db, me.id, friend.id)
    await befriend(db, me.id, pending_friend.id, "pending")
    await conversation(db, me.id, partner.id, "accepted")
    await conversation(db, requester.id, me.id, "pending")
    await conversation(db, me.id, blocked.id, "accepted")
    await block(db, blocked.id, me.id)
    del stranger
    await test_mode_switch()

    resp = await client.post(
        "/api/users/profile-image", data=image_form("profileImage", png_bytes()), headers=me.auth
    )
    url = (await resp.json())["url"]
    events = bus.events("user:profileUpdate")
    assert sorted(uid for uid, _ in events) == sorted([friend.id, partner.id, requester.id])
    assert all(payload == {"userId": me.id, "profileImage": url} for _, payload in events)
    services = client.server.app[SERVICES]
    connected, _pending = await services.social.connected_and_pending(services.pool, me.id)
    assert sorted(connected) == sorted([friend.id, partner.id, requester.id])

    # Cover changes are silent.
    bus.clear()
    await client.post(
        "/api/users/cover-image", data=image_form("coverImage", png_bytes()), headers=me.auth
    )
    assert bus.events("user:profileUpdate") == []


async def test_profile_update_is_silent_in_test_mode(client, db, bus):
    me = await make_user(client)
    friend = await make_user(client)
    await befriend(db, me.id, friend.id)
    resp = await client.post(
        "/api/users/profile-image", data=image_form("profileImage", png_bytes()), headers=me.auth
    )
    assert resp.status == 200
    assert bus.events("user:profileUpdate") == []


async def test_png_with_transparency_becomes_jpeg(client):
    user = await make_user(client)
    out = io.BytesIO()
    Image.new("RGBA", (50, 50), (0, 0, 0, 0)).save(out, "PNG")
    resp = await client.post(
        "/api/users/profile-image",
        data=image_form("profileImage", out.getvalue()),
        headers=user.auth,
    )
    assert resp.status == 200
    with Image.open(stored(client, (await resp.json())["url"])) as image:
        assert image.getpixel((10, 10)) == pytest.approx((255, 255, 255), abs=3)
