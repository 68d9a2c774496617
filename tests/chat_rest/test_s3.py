"""Uploads and downloads against object storage (moto's S3 server on loopback)."""

from __future__ import annotations

import secrets
from urllib.parse import unquote

import aiohttp
import pytest
from aiobotocore.session import get_session
from aiohttp import FormData

from chatr_server.appkeys import SERVICES
from tests.chat_rest.helpers import png_bytes
from tests.helpers import make_user
from tests.peers import MotoS3


@pytest.fixture
async def s3_client(make_client, moto_s3: MotoS3):
    bucket = f"chatr-rest-{secrets.token_hex(4)}"
    async with get_session().create_client(
        "s3",
        region_name=moto_s3.region,
        endpoint_url=moto_s3.endpoint_url,
        aws_access_key_id=moto_s3.access_key_id,
        aws_secret_access_key=moto_s3.secret_access_key,
    ) as s3:
        await s3.create_bucket(Bucket=bucket)
    client = await make_client(
        s3_bucket=bucket,
        s3_endpoint_url=moto_s3.endpoint_url,
        aws_region=moto_s3.region,
        aws_access_key_id=moto_s3.access_key_id,
        aws_secret_access_key=moto_s3.secret_access_key,
    )
    client.bucket_base = f"{moto_s3.endpoint_url}/{bucket}"
    client.moto = moto_s3
    return client


async def _fetch(url: str) -> tuple[int, bytes]:
    """An anonymous GET (presigned URLs)."""
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.read()


async def _object(client, url: str) -> bytes | None:
    """The stored object behind one of our URLs, read with the bucket's credentials."""
    from botocore.exceptions import ClientError

    bucket, _, key = url.removeprefix(client.moto.endpoint_url + "/").partition("/")
    async with get_session().create_client(
        "s3",
        region_name=client.moto.region,
        endpoint_url=client.moto.endpoint_url,
        aws_access_key_id=client.moto.access_key_id,
        aws_secret_access_key=client.moto.secret_access_key,
    ) as s3:
        try:
            response = await s3.get_object(Bucket=bucket, Key=unquote(key))
        except ClientError:
            return None
        async with response["Body"] as stream:
            return await stream.read()


async def test_message_upload_and_download_via_s3(s3_client):
    client = s3_client
    alice = await make_user(client)
    bob = await make_user(client)
    eve = await make_user(client)
    body = FormData(quote_fields=False)
    body.add_field(
        "file", b"%PDF-1.4 quarterly", filename="Q1 report.pdf", content_type="application/pdf"
    )
    body.add_field("recipientId", bob.id)
    resp = await client.post("/api/messages/upload", data=body, headers=alice.auth)
    assert resp.status == 200, await resp.text()
    result = await resp.json()
    # The bucket URL is what the database keeps; participants are shown this
    # server's signed /uploads link instead (SEC-17: the bucket stays private).
    stored = await client.app[SERVICES].pool.fetchval(
        "SELECT file_url FROM messages WHERE id = $1", result["messageId"]
    )
    assert stored.startswith(f"{client.bucket_base}/messages/Q1_report-")
    assert stored.endswith(".pdf")
    assert await _object(client, stored) == b"%PDF-1.4 quarterly"
    key = stored.removeprefix(f"{client.bucket_base}/")
    assert result["fileUrl"].startswith(f"/uploads/{key}?exp=")

    # The signed link and a participant's header redirect to a presigned URL.
    for headers in ({}, bob.auth):
        link = result["fileUrl"] if not headers else f"/uploads/{key}"
        resp = await client.get(link, headers=headers, allow_redirects=False)
        assert resp.status == 302
        assert resp.headers["Cache-Control"].startswith("private")
        assert await _fetch(resp.headers["Location"]) == (200, b"%PDF-1.4 quarterly")
    # Anyone else gets nothing, not even a redirect.
    for headers in ({}, eve.auth):
        resp = await client.get(f"/uploads/{key}", headers=headers, allow_redirects=False)
        assert resp.status == 404
        assert "Location" not in resp.headers
    # A participant forwarding the link they were shown stores the bucket URL again;
    # someone who may not read the file cannot forward it at all.
    attachments = client.app[SERVICES].attachments
    assert await attachments.stored_url(bob.id, result["fileUrl"]) == stored
    assert await attachments.stored_url(eve.id, result["fileUrl"]) is None

    url = f"/api/messages/download/{result['messageId']}"
    resp = await client.get(url, headers=bob.auth, allow_redirects=False)
    assert resp.status == 302
    location = resp.headers["Location"]
    assert "X-Amz-Signature=" in location and "X-Amz-Expires=300" in location
    assert "Q1 report.pdf" in unquote(location)
    status, data = await _fetch(location)
    assert (status, data) == (200, b"%PDF-1.4 quarterly")
    assert (await client.get(url, headers=eve.auth, allow_redirects=False)).status == 403

    # The signed-token route redirects as well.
    link = await (await client.get(f"{url}/link", headers=alice.auth)).json()
    resp = await client.get(link["url"], allow_redirects=False)
    assert resp.status == 302


async def test_profile_image_via_s3_replaces_objects(s3_client):
    client = s3_client
    user = await make_user(client)

    async def upload() -> str:
        form = FormData(quote_fields=False)
        form.add_field("profileImage", png_bytes(), filename="me.png", content_type="image/png")
        resp = await client.post("/api/users/profile-image", data=form, headers=user.auth)
        assert resp.status == 200, await resp.text()
        return (await resp.json())["url"]

    first = await upload()
    assert first.startswith(f"{client.bucket_base}/profiles/{user.id}-")
    for suffix in ("", "-md", "-sm"):
        assert await _object(client, first.replace(".jpg", f"{suffix}.jpg"))
    second = await upload()
    assert second != first
    for suffix in ("", "-md", "-sm"):
        assert await _object(client, first.replace(".jpg", f"{suffix}.jpg")) is None
    resp = await client.delete("/api/users/profile-image", headers=user.auth)
    assert await resp.json() == {"message": "Profile image deleted successfully"}
    assert await _object(client, second) is None
