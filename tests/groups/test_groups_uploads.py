"""Group file upload, group images and the group waveform PATCH."""

from __future__ import annotations

import io
import re
import uuid
import wave

import aiohttp
from PIL import Image

from chatr_server.appkeys import SERVICES, SETTINGS
from tests.groups.helpers import group_with, set_role, users

WEBM_HEAD = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm" + b"\x00" * 64


def _wav(seconds: float = 1.0) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * int(8000 * seconds))
    return out.getvalue()


def _png(size: tuple[int, int] = (500, 500)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def _form(field: str, data: bytes, filename: str, content_type: str, **fields: str):
    # Browsers send file names unquoted.
    form = aiohttp.FormData(quote_fields=False)
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field(field, data, filename=filename, content_type=content_type)
    return form


def _stored_path(client, url: str):
    # Members are shown a signed link (SEC-17): the file is its path.
    return client.app[SETTINGS].uploads_dir / url.partition("?")[0].removeprefix("/uploads/")


async def _upload(client, user, gid, data, filename, content_type, **fields):
    return await client.post(
        f"/api/groups/{gid}/upload",
        headers=user.auth,
        data=_form("file", data, filename, content_type, **fields),
    )


# --- upload ------------------------------------------------------------------------------


async def test_upload_text_file(client, bus):
    owner, member, pending = await users(client, 3)
    gid = await group_with(client, owner, accepted=[member], pending=[pending])
    bus.clear()
    resp = await _upload(client, member, gid, b"hello there\n", "notes.txt", "text/plain")
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert set(body) == {
        "success",
        "messageId",
        "fileUrl",
        "fileName",
        "fileSize",
        "fileType",
        "needsWaveformGeneration",
    }
    assert body["success"] is True and body["needsWaveformGeneration"] is False
    assert re.fullmatch(
        r"/uploads/messages/notes-\d{13}-\d{1,9}\.txt\?exp=\d+&sig=[\w-]{43}", body["fileUrl"]
    )
    assert body["fileName"] == "notes.txt" and body["fileSize"] == 12
    assert body["fileType"] == "text/plain"
    assert _stored_path(client, body["fileUrl"]).read_bytes() == b"hello there\n"
    # Broadcast immediately to accepted members only.
    events = bus.events("group:message")
    assert {u for u, _ in events} == {owner.id, member.id}
    live = events[0][1]
    assert live["id"] == body["messageId"] and live["type"] == "file"
    assert live["content"] == "notes.txt"
    assert live["sender"]["id"] == member.id
    assert live["waveform"] is None and live["duration"] is None
    # It is in the history.
    resp = await client.get(f"/api/groups/{gid}/messages", headers=owner.auth)
    last = (await resp.json())["messages"][-1]
    assert last["fileUrl"] == body["fileUrl"] and last["fileSize"] == 12


async def test_upload_image_with_caption(client, bus):
    [owner] = await users(client, 1)
    gid = await group_with(client, owner)
    resp = await _upload(
        client, owner, gid, _png((20, 20)), "pic.png", "image/png", type="image", caption=" Hi "
    )
    body = await resp.json()
    assert body["fileType"] == "image/png"
    live = bus.events("group:message")[0][1]
    assert live["type"] == "image" and live["content"] == "Hi"


async def test_upload_voice_note_with_waveform(client, bus):
    [owner] = await users(client, 1)
    gid = await group_with(client, owner)
    resp = await _upload(
        client,
        owner,
        gid,
        WEBM_HEAD,
        "voice-1.webm",
        "audio/webm;codecs=opus",
        waveform="[0.1, 0.5, 0.9]",
        duration="3.42",
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["fileType"] == "audio/webm"
    assert body["fileUrl"].startswith("/uploads/audio/voice-1-")
    assert body["waveform"] == [0.1, 0.5, 0.9] and body["duration"] == 3.42
    assert body["needsWaveformGeneration"] is False
    live = bus.events("group:message")[0][1]
    assert live["type"] == "audio" and live["content"] == "Voice message"
    assert live["waveform"] == [0.1, 0.5, 0.9] and live["duration"] == 3.42


async def test_upload_audio_without_waveform_gets_placeholder_and_duration(client, bus):
    owner, member = await users(client, 2)
    gid = await group_with(client, owner, accepted=[member])
    bus.clear()
    resp = await _upload(client, owner, gid, _wav(1.5), "clip.wav", "audio/wav", waveform="oops")
    body = await resp.json()
    assert body["needsWaveformGeneration"] is True
    assert len(body["waveform"]) == 100 and all(0 <= v <= 1 for v in body["waveform"])
    assert "duration" not in body
    await client.app[SERVICES].group_uploads.drain()
    waves = bus.events("audio:waveform")
    assert {u for u, _ in waves} == {owner.id, member.id}
    assert waves[0][1]["messageId"] == body["messageId"]
    assert abs(waves[0][1]["duration"] - 1.5) < 0.01
    assert len(waves[0][1]["waveform"]) == 100


async def test_upload_office_files(client):
    [owner] = await users(client, 1)
    gid = await group_with(client, owner)
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    resp = await _upload(client, owner, gid, ole, "sheet.xls", "application/vnd.ms-excel")
    assert resp.status == 200
    resp = await _upload(client, owner, gid, b"plain text", "sheet.xls", "application/vnd.ms-excel")
    assert resp.status == 415


async def test_upload_sanitises_file_name(client):
    [owner] = await users(client, 1)
    gid = await group_with(client, owner)
    resp = await _upload(client, owner, gid, b"x", "../../etc/pa ss;wd.txt", "text/plain")
    body = await resp.json()
    assert body["fileName"] == "pa ss;wd.txt"
    assert re.fullmatch(
        r"/uploads/messages/pa_ss_wd-\d+-\d+\.txt\?exp=\d+&sig=[\w-]{43}", body["fileUrl"]
    )


async def test_upload_errors(client, monkeypatch):
    owner, pending, stranger = await users(client, 3)
    gid = await group_with(client, owner, pending=[pending])
    resp = await _upload(client, stranger, gid, b"x", "a.txt", "text/plain")
    assert (resp.status, await resp.json()) == (403, {"error": "Not a member of this group"})
    resp = await _upload(client, pending, gid, b"x", "a.txt", "text/plain")
    assert (resp.status, await resp.json()) == (
        403,
        {"error": "Accept the group invite before sending files"},
    )
    resp = await _upload(client, owner, "nope", b"x", "a.txt", "text/plain")
    assert (resp.status, await resp.json()) == (404, {"error": "Group not found"})
    resp = await _upload(client, owner, gid, b"MZ\x90\x00", "a.exe", "application/x-msdownload")
    assert resp.status == 415
    resp = await _upload(client, owner, gid, b"just text", "a.png", "image/png")
    assert resp.status == 415
    resp = await _upload(client, owner, gid, b"", "a.txt", "text/plain")
    assert resp.status == 400
    # No file part, or not multipart at all.
    form = aiohttp.FormData()
    form.add_field("caption", "hi")
    resp = await client.post(f"/api/groups/{gid}/upload", headers=owner.auth, data=form)
    assert (resp.status, await resp.json()) == (400, {"error": "No file uploaded"})
    resp = await client.post(f"/api/groups/{gid}/upload", headers=owner.auth, json={"a": 1})
    assert (resp.status, await resp.json()) == (400, {"error": "No file uploaded"})
    resp = await client.post(
        f"/api/groups/{gid}/upload",
        headers={**owner.auth, "Content-Type": "multipart/form-data; boundary=zz"},
        data=b"--zz\r\ngarbage",
    )
    assert resp.status == 400
    # Size cap (lowered for the test).
    monkeypatch.setattr("chatr_server.api.handlers.groups.MAX_FILE_BYTES", 1024)
    resp = await _upload(client, owner, gid, b"a" * 2048, "big.txt", "text/plain")
    assert resp.status == 413
    count = await client.app[SERVICES].pool.fetchval(
        "SELECT count(*) FROM group_messages WHERE group_id = $1 AND type <> 'system'", gid
    )
    assert count == 0


# --- group images ------------------------------------------------------------------------


async def test_group_profile_image_lifecycle(client, bus):
    owner, admin, member, pending = await users(client, 4)
    gid = await group_with(client, owner, accepted=[admin, member], pending=[pending])
    await set_role(client, gid, admin, "admin")
    bus.clear()
    resp = await client.post(
        f"/api/groups/{gid}/profile-image",
        headers=admin.auth,
        data=_form("profileImage", _png(), "me.png", "image/png"),
    )
    assert resp.status == 200, await resp.text()
    url = (await resp.json())["url"]
    assert re.fullmatch(rf"/uploads/group-profiles/{gid}-\d{{13}}\.jpg", url)
    for suffix, size in (("", 400), ("-md", 320), ("-sm", 96)):
        path = _stored_path(client, url.replace(".jpg", f"{suffix}.jpg"))
        assert Image.open(path).size == (size, size)
    assert bus.recipients("group:updated") == {owner.id, admin.id, member.id}
    assert bus.events("group:updated")[0][1] == {"group": {"id": gid, "profileImage": url}}
    detail = await (await client.get(f"/api/groups/{gid}", headers=member.auth)).json()
    assert detail["group"]["profileImage"] == url
    # Replacing removes the old files.
    resp = await client.post(
        f"/api/groups/{gid}/profile-image",
        headers=owner.auth,
        data=_form("profileImage", _png(), "me.png", "image/png"),
    )
    new_url = (await resp.json())["url"]
    if new_url != url:
        assert not _stored_path(client, url).exists()
    # Delete.
    bus.clear()
    resp = await client.delete(f"/api/groups/{gid}/profile-image", headers=owner.auth)
    assert (resp.status, await resp.json()) == (200, {"success": True})
    assert not _stored_path(client, new_url).exists()
    assert bus.events("group:updated")[0][1] == {"group": {"id": gid, "profileImage": None}}
    bus.clear()
    resp = await client.delete(f"/api/groups/{gid}/profile-image", headers=owner.auth)
    assert (resp.status, await resp.json()) == (200, {"success": True})
    assert bus.sent == []


async def test_group_cover_image(client, bus):
    [owner] = await users(client, 1)
    gid = await group_with(client, owner)
    resp = await client.post(
        f"/api/groups/{gid}/cover-image",
        headers=owner.auth,
        data=_form("coverImage", _png((1300, 700)), "c.png", "image/png"),
    )
    url = (await resp.json())["url"]
    assert url.startswith(f"/uploads/group-covers/{gid}-")
    assert Image.open(_stored_path(client, url)).size == (1200, 600)
    assert Image.open(_stored_path(client, url.replace(".jpg", "-sm.jpg"))).size == (600, 300)
    assert bus.events("group:updated")[0][1] == {"group": {"id": gid, "coverImage": url}}
    resp = await client.delete(f"/api/groups/{gid}/cover-image", headers=owner.auth)
    assert resp.status == 200
    detail = await (await client.get(f"/api/groups/{gid}", headers=owner.auth)).json()
    assert detail["group"]["coverImage"] is None


async def test_group_image_errors(client):
    owner, member, pending, stranger = await users(client, 4)
    gid = await group_with(client, owner, accepted=[member], pending=[pending])
    routes = [
        ("profile-image", "profileImage", "Only admins can change the group avatar"),
        ("cover-image", "coverImage", "Only admins can change the group cover image"),
    ]
    for route, field, denied in routes:
        for user in (member, pending, stranger):
            resp = await client.post(
                f"/api/groups/{gid}/{route}",
                headers=user.auth,
                data=_form(field, _png(), "a.png", "image/png"),
            )
            assert (resp.status, await resp.json()) == (403, {"error": denied})
            resp = await client.delete(f"/api/groups/{gid}/{route}", headers=user.auth)
            assert (resp.status, await resp.json()) == (403, {"error": denied})
        resp = await client.post(
            f"/api/groups/{gid}/{route}",
            headers=owner.auth,
            data=_form("wrongField", _png(), "a.png", "image/png"),
        )
        assert (resp.status, await resp.json()) == (400, {"error": "No file uploaded"})
        gif = io.BytesIO()
        Image.new("RGB", (10, 10)).save(gif, "GIF")
        resp = await client.post(
            f"/api/groups/{gid}/{route}",
            headers=owner.auth,
            data=_form(field, gif.getvalue(), "a.gif", "image/gif"),
        )
        assert resp.status == 415
        resp = await client.post(
            f"/api/groups/{gid}/{route}",
            headers=owner.auth,
            data=_form(field, _png()[:200], "a.png", "image/png"),
        )
        assert resp.status == 400
        resp = await client.post(
            f"/api/groups/{uuid.uuid4()}/{route}",
            headers=owner.auth,
            data=_form(field, _png(), "a.png", "image/png"),
        )
        assert (resp.status, await resp.json()) == (404, {"error": "Group not found"})


# --- waveform ----------------------------------------------------------------------------


async def _voice(client, user, gid) -> str:
    resp = await _upload(client, user, gid, WEBM_HEAD, "v.webm", "audio/webm", duration="2")
    await client.app[SERVICES].group_uploads.drain()
    return (await resp.json())["messageId"]


async def test_waveform_patch(client, bus):
    owner, member, pending = await users(client, 3)
    gid = await group_with(client, owner, accepted=[member], pending=[pending])
    mid = await _voice(client, member, gid)
    bus.clear()
    url = f"/api/groups/{gid}/messages/{mid}/waveform"
    resp = await client.patch(
        url, headers=member.auth, json={"waveform": [0.2, 0.4], "duration": 5}
    )
    assert (resp.status, await resp.json()) == (200, {"success": True})
    assert bus.recipients("audio:waveform") == {owner.id, member.id}
    assert bus.events("audio:waveform")[0][1] == {
        "messageId": mid,
        "waveform": [0.2, 0.4],
        "duration": 5.0,
    }
    stored = await client.app[SERVICES].pool.fetchrow(
        "SELECT audio_waveform, audio_duration FROM group_messages WHERE id = $1", mid
    )
    assert (stored["audio_waveform"], stored["audio_duration"]) == ([0.2, 0.4], 5.0)
    # Without duration the stored one is kept and reported.
    bus.clear()
    await client.patch(url, headers=member.auth, json={"waveform": [0.3]})
    assert bus.events("audio:waveform")[0][1]["duration"] == 5.0


async def test_waveform_patch_security_and_errors(client):
    owner, member, stranger = await users(client, 3)
    gid = await group_with(client, owner, accepted=[member])
    other_gid = await group_with(client, owner)
    mid = await _voice(client, member, gid)
    foreign = await _voice(client, owner, other_gid)
    body = {"waveform": [0.5]}
    cases = [
        (owner, gid, mid, body, 403, "Access denied"),  # not the sender
        (stranger, gid, mid, body, 403, "Not a member"),
        (owner, gid, foreign, body, 404, "Message not found"),  # other group's message
        (member, gid, str(uuid.uuid4()), body, 404, "Message not found"),
        (member, gid, "junk", body, 404, "Message not found"),
        (member, "junk", mid, body, 404, "Group not found"),
        (member, gid, mid, {}, 400, "waveform array required"),
        (member, gid, mid, {"waveform": "x"}, 400, "waveform array required"),
        (member, gid, mid, {"waveform": ["a"]}, 400, "waveform array required"),
        (member, gid, mid, {"waveform": [0.1] * 1001}, 400, "waveform array required"),
        (member, gid, mid, {"waveform": [0.1], "duration": "x"}, 400, None),
        (member, gid, mid, {"waveform": [0.1], "duration": -1}, 400, None),
    ]
    for user, group_id, message_id, payload, status, error in cases:
        resp = await client.patch(
            f"/api/groups/{group_id}/messages/{message_id}/waveform",
            headers=user.auth,
            json=payload,
        )
        data = await resp.json()
        assert resp.status == status, (payload, data)
        if error:
            assert data == {"error": error}
    stored = await client.app[SERVICES].pool.fetchval(
        "SELECT audio_waveform FROM group_messages WHERE id = $1", mid
    )
    assert stored != [0.5]


async def test_background_job_keeps_a_patched_waveform(client):
    [owner] = await users(client, 1)
    gid = await group_with(client, owner)
    resp = await _upload(client, owner, gid, _wav(1.0), "a.wav", "audio/wav")
    mid = (await resp.json())["messageId"]
    # The client PATCHes its own waveform before the background job has run.
    await client.patch(
        f"/api/groups/{gid}/messages/{mid}/waveform",
        headers=owner.auth,
        json={"waveform": [0.7, 0.8]},
    )
    await client.app[SERVICES].group_uploads.drain()
    stored = await client.app[SERVICES].pool.fetchrow(
        "SELECT audio_waveform, audio_duration FROM group_messages WHERE id = $1", mid
    )
    assert stored["audio_waveform"] == [0.7, 0.8]
    assert abs(stored["audio_duration"] - 1.0) < 0.01
