"""``POST /api/messages/upload`` and ``GET /api/messages/download/:id`` (rest.md §4)."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import unquote

import pytest
from aiohttp import FormData

from chatr_server.appkeys import SERVICES
from chatr_server.services.uploads import MAX_MESSAGE_FILE
from tests.chat_rest.helpers import befriend, block, insert_message, png_bytes, wav_bytes
from tests.helpers import make_user


def form(
    data: bytes | None,
    recipient: str | None,
    *,
    filename: str = "notes.txt",
    content_type: str = "text/plain",
    **fields: str,
) -> FormData:
    body = FormData(quote_fields=False)  # browsers send names raw (only `"` escaped)
    if data is not None:
        body.add_field("file", data, filename=filename, content_type=content_type)
    if recipient is not None:
        body.add_field("recipientId", recipient)
    for name, value in fields.items():
        body.add_field(name, value)
    return body


def local_file(client, url: str) -> Path:
    root = client.server.app[SERVICES].settings.uploads_dir
    # Participants are shown a signed link (SEC-17): the file is its path.
    return Path(root) / unquote(url.partition("?")[0].removeprefix("/uploads/"))


async def test_upload_text_file_creates_message_and_conversation(client, db):
    alice = await make_user(client)
    bob = await make_user(client)
    resp = await client.post(
        "/api/messages/upload",
        data=form(b"hello there\n", bob.id, caption="  see attached  "),
        headers=alice.auth,
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["success"] is True and body["needsWaveformGeneration"] is False
    assert body["fileName"] == "notes.txt" and body["fileSize"] == 12
    assert body["fileType"] == "text/plain"
    assert body["fileUrl"].startswith("/uploads/messages/notes-")
    assert body["fileUrl"].partition("?")[0].endswith(".txt")
    assert local_file(client, body["fileUrl"]).read_bytes() == b"hello there\n"

    row = await db.fetchrow("SELECT * FROM messages WHERE id = $1", body["messageId"])
    assert str(row["sender_id"]) == alice.id and str(row["recipient_id"]) == bob.id
    assert row["content"] == "see attached" and row["type"] == "file"
    assert row["status"] == "sent"
    conv = await db.fetchrow(
        "SELECT * FROM conversations WHERE participant_a = LEAST($1::uuid, $2::uuid) "
        "AND participant_b = GREATEST($1::uuid, $2::uuid)",
        alice.id,
        bob.id,
    )
    assert conv["status"] == "pending" and str(conv["initiator_id"]) == alice.id

    # A second upload (from the other side) keeps the existing row.
    resp = await client.post(
        "/api/messages/upload", data=form(b"reply", alice.id), headers=bob.auth
    )
    assert resp.status == 200
    again = await db.fetch(
        "SELECT id, initiator_id FROM conversations WHERE participant_a = LEAST($1::uuid, $2::uuid) "
        "AND participant_b = GREATEST($1::uuid, $2::uuid)",
        alice.id,
        bob.id,
    )
    assert len(again) == 1 and str(again[0]["initiator_id"]) == alice.id
    # The pair now shows up in both histories and conversation lists.
    resp = await client.get(f"/api/messages/{alice.id}", headers=bob.auth)
    assert [m["fileName"] for m in (await resp.json())["messages"]] == ["notes.txt", "notes.txt"]
    resp = await client.get("/api/users/conversations", headers=bob.auth)
    assert [e["id"] for e in (await resp.json())["conversations"]] == [alice.id]


async def test_upload_between_friends_is_accepted_and_images_keep_type(client, db):
    alice = await make_user(client)
    bob = await make_user(client)
    await befriend(db, bob.id, alice.id)
    resp = await client.post(
        "/api/messages/upload",
        data=form(png_bytes(), bob.id, filename="pic.png", content_type="image/png", type="image"),
        headers=alice.auth,
    )
    body = await resp.json()
    assert resp.status == 200
    row = await db.fetchrow("SELECT type, content FROM messages WHERE id = $1", body["messageId"])
    assert row["type"] == "image" and row["content"] == "pic.png"
    status = await db.fetchval(
        "SELECT status FROM conversations WHERE participant_a = LEAST($1::uuid, $2::uuid) "
        "AND participant_b = GREATEST($1::uuid, $2::uuid)",
        alice.id,
        bob.id,
    )
    assert status == "accepted"
    # Without type=image it is a plain file.
    resp = await client.post(
        "/api/messages/upload",
        data=form(png_bytes(), bob.id, filename="pic.png", content_type="image/png"),
        headers=alice.auth,
    )
    mid = (await resp.json())["messageId"]
    assert await db.fetchval("SELECT type FROM messages WHERE id = $1", mid) == "file"


async def test_voice_note_with_waveform_and_duration(client, db):
    alice = await make_user(client)
    bob = await make_user(client)
    resp = await client.post(
        "/api/messages/upload",
        data=form(
            wav_bytes(0.5),
            bob.id,
            filename="voice-1741183629000.wav",
            content_type="audio/wav",
            waveform="[0.1, 0.9, 0.4]",
            duration="3.42",
        ),
        headers=alice.auth,
    )
    body = await resp.json()
    assert resp.status == 200, body
    assert body["waveform"] == [0.1, 0.9, 0.4] and body["duration"] == 3.42
    assert body["needsWaveformGeneration"] is False
    assert body["fileUrl"].startswith("/uploads/audio/voice-1741183629000-")
    row = await db.fetchrow("SELECT * FROM messages WHERE id = $1", body["messageId"])
    assert row["type"] == "audio" and row["content"] == "Voice message"
    assert row["audio_waveform"] == [0.1, 0.9, 0.4] and row["audio_duration"] == 3.42


async def test_audio_without_waveform_gets_placeholder_and_background_duration(client, db, bus):
    alice = await make_user(client)
    bob = await make_user(client)
    resp = await client.post(
        "/api/messages/upload",
        data=form(
            wav_bytes(1.5),
            bob.id,
            filename="song.wav",
            content_type="audio/wav",
            waveform="not json",
            duration="-1",
        ),
        headers=alice.auth,
    )
    body = await resp.json()
    assert resp.status == 200, body
    assert body["needsWaveformGeneration"] is True
    assert len(body["waveform"]) == 100 and all(0 <= v <= 1 for v in body["waveform"])
    assert "duration" not in body
    await client.server.app[SERVICES].uploads.wait_idle()
    duration = await db.fetchval(
        "SELECT audio_duration FROM messages WHERE id = $1", body["messageId"]
    )
    assert duration == pytest.approx(1.5, abs=0.01)
    events = bus.events("audio:waveform")
    assert sorted(uid for uid, _ in events) == sorted([alice.id, bob.id])
    assert events[0][1]["messageId"] == body["messageId"]
    assert events[0][1]["duration"] == pytest.approx(1.5, abs=0.01)


async def test_mime_parameters_are_stripped(client, db):
    alice = await make_user(client)
    bob = await make_user(client)
    webm = b"\x1a\x45\xdf\xa3" + b"\x00" * 20 + b"webm" + b"\x00" * 200
    resp = await client.post(
        "/api/messages/upload",
        data=form(webm, bob.id, filename="rec.webm", content_type="audio/webm;codecs=opus"),
        headers=alice.auth,
    )
    body = await resp.json()
    assert resp.status == 200, body
    assert body["fileType"] == "audio/webm"


async def test_unsafe_file_names_are_sanitised(client):
    alice = await make_user(client)
    bob = await make_user(client)
    resp = await client.post(
        "/api/messages/upload",
        data=form(b"<script>alert(1)</script>", bob.id, filename="../../etc/evil page.html"),
        headers=alice.auth,
    )
    body = await resp.json()
    assert resp.status == 200, body
    assert body["fileName"] == "evil page.html"
    name = body["fileUrl"].partition("?")[0].rsplit("/", 1)[1]
    assert body["fileUrl"].startswith("/uploads/messages/evil_page-")
    assert name.endswith(".txt") and "/" not in name and ".." not in name
    served = await client.get(body["fileUrl"])
    assert served.status == 200
    assert served.headers["Content-Type"].startswith("text/plain")
    assert served.headers["Content-Disposition"].startswith("attachment")
    assert served.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("data", "fields", "status", "error"),
    [
        (None, {}, 400, "No file uploaded"),
        (b"x", {"recipient": None}, 400, "Recipient ID required"),
        (b"x", {"recipient": "   "}, 400, "Recipient ID required"),
        (b"x", {"recipient": "00000000-0000-4000-8000-000000000000"}, 404, "Recipient not found"),
        (b"x", {"recipient": "not-a-uuid"}, 404, "Recipient not found"),
        (b"MZ\x90\x00", {"content_type": "application/x-msdownload"}, 415, None),
        (b"plain text", {"content_type": "image/png", "filename": "a.png"}, 415, None),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 16, {"content_type": "application/pdf"}, 415, None),
        (b"", {}, 400, "File is empty"),
    ],
)
async def test_upload_rejections(client, db, data, fields, status, error):
    alice = await make_user(client)
    bob = await make_user(client)
    recipient = fields.pop("recipient", bob.id)
    resp = await client.post(
        "/api/messages/upload", data=form(data, recipient, **fields), headers=alice.auth
    )
    assert resp.status == status
    body = await resp.json()
    if error:
        assert body == {"error": error}
    else:
        assert isinstance(body["error"], str)
    assert await db.fetchval("SELECT count(*) FROM messages WHERE sender_id = $1", alice.id) == 0


async def test_upload_auth_self_and_non_multipart(client):
    alice = await make_user(client)
    resp = await client.post("/api/messages/upload", data=form(b"x", alice.id))
    assert resp.status == 401
    resp = await client.post("/api/messages/upload", data=form(b"x", alice.id), headers=alice.auth)
    assert resp.status == 400
    resp = await client.post("/api/messages/upload", json={"file": "x"}, headers=alice.auth)
    assert resp.status == 400
    assert await resp.json() == {"error": "No file uploaded"}
    resp = await client.post(
        "/api/messages/upload",
        data=b"--zz\r\nbroken",
        headers={**alice.auth, "Content-Type": "multipart/form-data; boundary=zz"},
    )
    assert resp.status == 400


async def test_upload_refused_when_a_block_exists_either_way(client, db):
    alice = await make_user(client)
    bob = await make_user(client)
    carol = await make_user(client)
    await block(db, bob.id, alice.id)
    await block(db, alice.id, carol.id)
    for target in (bob, carol):
        resp = await client.post(
            "/api/messages/upload", data=form(b"x", target.id), headers=alice.auth
        )
        assert resp.status == 403
    resp = await client.post("/api/messages/upload", data=form(b"x", alice.id), headers=bob.auth)
    assert resp.status == 403
    assert (
        await db.fetchval(
            "SELECT count(*) FROM messages WHERE sender_id = ANY($1::uuid[])", [alice.id, bob.id]
        )
        == 0
    )


async def test_oversize_upload_is_refused_while_streaming(client):
    alice = await make_user(client)
    bob = await make_user(client)
    # Declared length is within the form allowance, so the cap trips while reading.
    too_big = b"a" * (MAX_MESSAGE_FILE + 1)
    resp = await client.post("/api/messages/upload", data=form(too_big, bob.id), headers=alice.auth)
    assert resp.status == 413
    assert "error" in await resp.json()
    # A declared Content-Length beyond the cap is refused before reading.
    resp = await client.post(
        "/api/messages/upload",
        data=b"x" * 10,
        headers={
            **alice.auth,
            "Content-Type": "multipart/form-data; boundary=zz",
            "Content-Length": str(MAX_MESSAGE_FILE * 2),
        },
    )
    assert resp.status == 413


async def _upload(client, sender, recipient, data=b"report body", **kw):
    resp = await client.post(
        "/api/messages/upload", data=form(data, recipient.id, **kw), headers=sender.auth
    )
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_download_with_header(client):
    alice = await make_user(client)
    bob = await make_user(client)
    eve = await make_user(client)
    body = await _upload(client, alice, bob, filename='Q1 "report" é.txt')
    url = f"/api/messages/download/{body['messageId']}"
    for user in (alice, bob):
        resp = await client.get(url, headers=user.auth)
        assert resp.status == 200
        assert await resp.read() == b"report body"
        assert resp.headers["Content-Type"].startswith("text/plain")
        disposition = resp.headers["Content-Disposition"]
        assert disposition.startswith('attachment; filename="Q1 _report_ ')
        assert "filename*=UTF-8''Q1%20%22report%22%20%C3%A9.txt" in disposition
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Access-Control-Allow-Origin"] == "*"
    resp = await client.get(url, headers=eve.auth)
    assert resp.status == 403
    assert await resp.json() == {"error": "Access denied"}
    resp = await client.get(url)
    assert resp.status == 401
    assert await resp.json() == {"error": "Access token required"}
    resp = await client.get(url, headers={"Authorization": "Bearer junk"})
    assert resp.status == 403


async def test_download_not_found_cases(client, db):
    alice = await make_user(client)
    bob = await make_user(client)
    for missing in ("00000000-0000-4000-8000-000000000000", "junk"):
        resp = await client.get(f"/api/messages/download/{missing}", headers=alice.auth)
        assert resp.status == 404
        assert await resp.json() == {"error": "File not found"}
    text = await insert_message(db, alice.id, bob.id, "no file")
    resp = await client.get(f"/api/messages/download/{text}", headers=alice.auth)
    assert resp.status == 404
    body = await _upload(client, alice, bob)
    local_file(client, body["fileUrl"]).unlink()
    resp = await client.get(f"/api/messages/download/{body['messageId']}", headers=alice.auth)
    assert resp.status == 404
    assert await resp.json() == {"error": "File not found on disk"}
    body = await _upload(client, alice, bob)
    await db.execute("UPDATE messages SET deleted_at = now() WHERE id = $1", body["messageId"])
    resp = await client.get(f"/api/messages/download/{body['messageId']}", headers=bob.auth)
    assert resp.status == 404


async def test_signed_download_link(client):
    alice = await make_user(client)
    bob = await make_user(client)
    eve = await make_user(client)
    body = await _upload(client, alice, bob)
    link_url = f"/api/messages/download/{body['messageId']}/link"
    assert (await client.get(link_url)).status == 401
    assert (await client.get(link_url, headers=eve.auth)).status == 403
    resp = await client.get(link_url, headers=bob.auth)
    assert resp.status == 200
    link = await resp.json()
    assert link["url"].startswith(f"/api/messages/download/{body['messageId']}?token=")
    # A plain anchor: no Authorization header.
    resp = await client.get(link["url"])
    assert resp.status == 200
    assert await resp.read() == b"report body"

    uploads = client.server.app[SERVICES].uploads
    token = link["url"].split("token=", 1)[1]
    expires, signature = token.split(".", 1)
    other = await _upload(client, alice, bob)
    forged = [
        f"/api/messages/download/{other['messageId']}?token={token}",  # other message
        f"{link['url'][:-2]}xx",  # tampered signature
        f"/api/messages/download/{body['messageId']}?token={int(expires) + 60}.{signature}",
        f"/api/messages/download/{body['messageId']}?token=garbage",
    ]
    for url in forged:
        resp = await client.get(url)
        assert resp.status == 403, url
    stale = f"{int(time.time()) - 1}"
    stale_token = f"{stale}.{uploads._signature(body['messageId'], int(stale))}"
    resp = await client.get(f"/api/messages/download/{body['messageId']}?token={stale_token}")
    assert resp.status == 403
    assert uploads.verify_download(body["messageId"], token)


async def test_background_duration_never_overwrites_a_patched_waveform(client, db):
    alice = await make_user(client)
    bob = await make_user(client)
    resp = await client.post(
        "/api/messages/upload",
        data=form(wav_bytes(1.0), bob.id, filename="a.wav", content_type="audio/wav"),
        headers=alice.auth,
    )
    body = await resp.json()
    assert body["needsWaveformGeneration"] is True
    resp = await client.patch(
        f"/api/messages/{body['messageId']}/waveform",
        json={"waveform": [0.3, 0.6]},
        headers=alice.auth,
    )
    assert resp.status == 200
    await client.server.app[SERVICES].uploads.wait_idle()
    row = await db.fetchrow(
        "SELECT audio_waveform, audio_duration FROM messages WHERE id = $1", body["messageId"]
    )
    assert row["audio_waveform"] == [0.3, 0.6]
    assert row["audio_duration"] == pytest.approx(1.0, abs=0.01)
