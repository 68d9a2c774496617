from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiobotocore.session import get_session

from chatr_server.integrations.storage import (
    LocalStorage,
    S3Storage,
    Storage,
    content_disposition,
    create_storage,
    is_safe_key,
)
from chatr_server.settings import Settings
from tests.peers import MotoS3

UNSAFE_KEYS = [
    "",
    "/etc/passwd",
    "../secret",
    "profiles/../../secret",
    "profiles/./a.jpg",
    "profiles//a.jpg",
    "profiles\\a.jpg",
    "profiles/a\x00.jpg",
    "a/",
]


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_unsafe_keys_rejected(key: str) -> None:
    assert not is_safe_key(key)


def test_content_disposition_has_ascii_fallback_and_utf8_name() -> None:
    value = content_disposition('résumé "final".pdf')
    assert value.startswith('attachment; filename="r_sum_ _final_.pdf"')
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.pdf" in value
    assert content_disposition("a\r\nb.txt").count("\n") == 0


# --- local -----------------------------------------------------------------------------


async def test_local_put_get_delete(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    assert isinstance(store, Storage)
    url = await store.put("profiles/abc.jpg", b"jpeg-bytes", "image/jpeg")
    assert url == "/uploads/profiles/abc.jpg"
    assert (tmp_path / "profiles" / "abc.jpg").read_bytes() == b"jpeg-bytes"
    assert await store.get("profiles/abc.jpg") == b"jpeg-bytes"
    assert store.local_path("profiles/abc.jpg") == (tmp_path / "profiles/abc.jpg").resolve()
    assert await store.signed_url("profiles/abc.jpg", "a.jpg", 60) is None

    await store.put("profiles/abc.jpg", b"replaced", "image/jpeg")
    assert await store.get("profiles/abc.jpg") == b"replaced"
    assert [p.name for p in (tmp_path / "profiles").iterdir()] == ["abc.jpg"]

    await store.delete("profiles/abc.jpg")
    assert await store.get("profiles/abc.jpg") is None
    await store.delete("profiles/abc.jpg")  # missing is fine
    await store.delete("../outside")  # unsafe is ignored, not an error
    await store.close()


async def test_local_rejects_traversal(tmp_path: Path) -> None:
    root = tmp_path / "uploads"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("secret")
    store = LocalStorage(root)
    for key in UNSAFE_KEYS:
        assert store.local_path(key) is None
        assert await store.get(key) is None
        with pytest.raises(ValueError):
            await store.put(key, b"x", "text/plain")
    # A symlink that leads out of the root is not followed.
    (root / "link").symlink_to(tmp_path)
    assert store.local_path("link/secret.txt") is None
    assert await store.get("link/secret.txt") is None


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("/uploads/profiles/a.jpg", "profiles/a.jpg"),
        ("/uploads/messages/a%20b.png?v=2", "messages/a b.png"),
        ("/uploads/audio/x.webm#t", "audio/x.webm"),
        ("/uploads/../etc/passwd", None),
        ("/uploads/profiles/%2e%2e/%2e%2e/etc/passwd", None),
        ("/uploads/%2Fetc%2Fpasswd", None),
        ("/uploads/", None),
        ("/uploadsx/a.jpg", None),
        ("/static/a.jpg", None),
        ("https://evil.example/uploads/profiles/a.jpg", None),
        ("https://chat.example/uploads/profiles/a.jpg", "profiles/a.jpg"),
        ("http://chat.example/uploads/profiles/a.jpg", None),
        ("", None),
    ],
)
def test_local_key_from_url(tmp_path: Path, url: str, key: str | None) -> None:
    store = LocalStorage(tmp_path, public_url="https://chat.example/")
    assert store.key_from_url(url) == key


def test_local_url_round_trip(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    url = store.url_for("messages/a b#c.txt")
    assert url == "/uploads/messages/a%20b%23c.txt"
    assert store.key_from_url(url) == "messages/a b#c.txt"


def test_create_storage_picks_backend(settings: Settings) -> None:
    local = create_storage(settings)
    assert isinstance(local, LocalStorage)
    assert local.root == settings.uploads_dir
    s3 = create_storage(replace(settings, s3_bucket="b", aws_region="eu-west-2"))
    assert isinstance(s3, S3Storage)
    assert s3.url_for("profiles/a.jpg") == "https://b.s3.eu-west-2.amazonaws.com/profiles/a.jpg"


# --- S3 --------------------------------------------------------------------------------


def test_s3_key_from_url() -> None:
    store = S3Storage("bkt", "eu-west-2")
    assert store.key_from_url("https://bkt.s3.eu-west-2.amazonaws.com/profiles/a.jpg") == (
        "profiles/a.jpg"
    )
    assert store.key_from_url("https://bkt.s3.amazonaws.com/audio/a.webm") == "audio/a.webm"
    assert store.key_from_url("https://other.s3.eu-west-2.amazonaws.com/profiles/a.jpg") is None
    assert store.key_from_url("https://bkt.s3.eu-west-2.amazonaws.com/../x") is None
    assert store.key_from_url("/uploads/profiles/a.jpg") is None
    cdn = S3Storage("bkt", "eu-west-2", public_url="https://cdn.example/media/")
    assert cdn.url_for("profiles/a b.jpg") == "https://cdn.example/media/profiles/a%20b.jpg"
    assert cdn.key_from_url("https://cdn.example/media/profiles/a%20b.jpg") == "profiles/a b.jpg"
    assert cdn.key_from_url("https://cdn.example/other/profiles/a.jpg") is None


async def test_s3_presigned_url_uses_sigv4() -> None:
    # Presigning is local computation: no server needed.
    store = S3Storage("bkt", "eu-west-2", access_key_id="AKIDEXAMPLE", secret_access_key="x")
    try:
        url = await store.signed_url("messages/report.pdf", "Report 2024.pdf", 300)
    finally:
        await store.close()
    assert url is not None
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["300"]
    assert "Report 2024.pdf" in query["response-content-disposition"][0]
    assert "AKIDEXAMPLE" in query["X-Amz-Credential"][0]


@pytest.fixture
async def s3_store(moto_s3: MotoS3) -> AsyncIterator[S3Storage]:
    bucket = f"chatr-{secrets.token_hex(4)}"
    session = get_session()
    async with session.create_client(
        "s3",
        region_name=moto_s3.region,
        endpoint_url=moto_s3.endpoint_url,
        aws_access_key_id=moto_s3.access_key_id,
        aws_secret_access_key=moto_s3.secret_access_key,
    ) as client:
        await client.create_bucket(Bucket=bucket)
    store = S3Storage(
        bucket,
        moto_s3.region,
        endpoint_url=moto_s3.endpoint_url,
        access_key_id=moto_s3.access_key_id,
        secret_access_key=moto_s3.secret_access_key,
    )
    yield store
    await store.close()


async def test_s3_put_get_delete(s3_store: S3Storage, moto_s3: MotoS3) -> None:
    url = await s3_store.put("profiles/abc.jpg", b"jpeg-bytes", "image/jpeg")
    assert url == f"{moto_s3.endpoint_url}/{s3_store.bucket}/profiles/abc.jpg"
    assert s3_store.key_from_url(url) == "profiles/abc.jpg"
    assert await s3_store.get("profiles/abc.jpg") == b"jpeg-bytes"
    assert s3_store.local_path("profiles/abc.jpg") is None

    await s3_store.delete("profiles/abc.jpg")
    assert await s3_store.get("profiles/abc.jpg") is None
    await s3_store.delete("profiles/abc.jpg")  # missing is fine
    assert await s3_store.get("../x") is None


async def test_s3_presigned_download(s3_store: S3Storage) -> None:
    payload = secrets.token_bytes(2048)
    await s3_store.put("messages/report.bin", payload, "application/octet-stream")
    url = await s3_store.signed_url("messages/report.bin", "report ü.bin", 120)
    assert url is not None and "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        assert await response.read() == payload
        disposition = response.headers.get("Content-Disposition", "")
        assert disposition.startswith("attachment;")


async def test_s3_close_then_reuse(s3_store: S3Storage) -> None:
    await s3_store.put("audio/a.webm", b"1", "audio/webm")
    await s3_store.close()
    await s3_store.close()
    # A closed store reopens lazily instead of failing.
    assert await s3_store.get("audio/a.webm") == b"1"


async def test_s3_unreachable_raises_storage_error() -> None:
    from chatr_server.integrations.storage import StorageError
    from tests.helpers import free_port

    store = S3Storage(
        "bkt",
        "us-east-1",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        access_key_id="a",
        secret_access_key="b",
        max_attempts=1,
    )
    try:
        with pytest.raises(StorageError):
            await store.put("profiles/a.jpg", b"x", "image/jpeg")
        with pytest.raises(StorageError):
            await store.get("profiles/a.jpg")
    finally:
        await store.close()
