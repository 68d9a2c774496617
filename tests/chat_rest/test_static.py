"""``/uploads/*`` and ``/assets/*`` (rest.md §15)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from chatr_server.appkeys import SERVICES
from tests.chat_rest.helpers import png_bytes


def uploads_root(client) -> Path:
    return Path(client.server.app[SERVICES].settings.uploads_dir)


def put(client, key: str, data: bytes) -> None:
    path = uploads_root(client) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def signed(client, key: str) -> str:
    """A participant's link to an attachment (the defences below apply to both kinds)."""
    return client.server.app[SERVICES].attachments.link_for_key(key)


async def test_image_is_served_inline_with_contract_headers(client):
    # Pictures are public (attachments: tests/chat_rest/test_attachment_access.py).
    put(client, "profiles/static-pic.png", png_bytes())
    resp = await client.get("/uploads/profiles/static-pic.png")
    assert resp.status == 200
    assert await resp.read() == png_bytes()
    h = resp.headers
    assert h["Content-Type"] == "image/png"
    assert "Content-Disposition" not in h
    assert h["Access-Control-Allow-Origin"] == "*"
    assert h["Access-Control-Allow-Methods"] == "GET"
    assert h["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert h["Cache-Control"] == "public, max-age=31536000, immutable"
    assert h["X-Content-Type-Options"] == "nosniff"
    head = await client.head("/uploads/profiles/static-pic.png")
    assert head.status == 200


@pytest.mark.parametrize(
    ("name", "data", "expected_type"),
    [
        ("page.html", b"<html><script>alert(1)</script></html>", "text/plain"),
        ("drawing.svg", b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>", "text/plain"),
        ("fake.png", b"<html>not a png</html>", "text/plain"),
        ("blob.bin", b"\x00\x01\x02\x03", "application/octet-stream"),
    ],
)
async def test_active_or_mislabelled_content_is_defused(client, name, data, expected_type):
    put(client, f"messages/{name}", data)
    resp = await client.get(signed(client, f"messages/{name}"))
    assert resp.status == 200
    assert resp.headers["Content-Type"].split(";")[0] == expected_type
    assert resp.headers["Content-Disposition"].startswith("attachment")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_pdf_is_previewable_but_sandboxed(client):
    put(client, "messages/doc.pdf", b"%PDF-1.4\n%...")
    resp = await client.get(signed(client, "messages/doc.pdf"))
    assert resp.status == 200
    assert resp.headers["Content-Type"].split(";")[0] == "application/pdf"
    assert "Content-Disposition" not in resp.headers
    assert resp.headers["Content-Security-Policy"] == "sandbox"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/uploads/messages/missing.png",
        "/uploads/profiles/missing.png",
        "/uploads/../pyproject.toml",
        "/uploads/%2e%2e/%2e%2e/etc/passwd",
        "/uploads/messages/..%2F..%2Fsecret",
        "/uploads/messages",
        "/uploads/messages/",
    ],
)
async def test_missing_and_traversal_are_json_404(client, path):
    put(client, "messages/exists.txt", b"x")
    resp = await client.get(path)
    assert resp.status == 404
    assert await resp.json() == {"error": "Not found"}


async def test_symlink_out_of_the_root_is_refused(client, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    link = uploads_root(client) / "messages" / "link.txt"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(secret)
    resp = await client.get(signed(client, "messages/link.txt"))
    assert resp.status == 404
    assert await resp.json() == {"error": "Not found"}


async def test_default_profile_asset(client):
    resp = await client.get("/assets/default-profile.jpg")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "image/jpeg"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert resp.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert resp.headers["Cache-Control"] == "public, max-age=86400"
    with Image.open(io.BytesIO(await resp.read())) as image:
        assert image.format == "JPEG" and image.size == (256, 256)
    assert (await client.get("/assets/nope.jpg")).status == 404
    assert (await client.get("/assets/../jwt_secret")).status == 404
