"""Message attachments are readable by their participants only (SEC-17, issue 11 item 4).

``/uploads/messages/*`` and ``/uploads/audio/*`` answer a participant's Bearer
header or a signed link; the messages a participant is shown carry signed links
(what the web client's ``<img>``/``<audio>`` tags load). Everyone else gets the
404 of a missing file and never the bytes. Pictures stay public.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import FormData

from chatr_server.appkeys import SERVICES
from tests.chat_rest.helpers import png_bytes
from tests.helpers import TestUser, make_user
from tests.widget.helpers import bearer, make_agent, start_guest

SECRET_BYTES = b"%PDF-1.4 private minutes"
REFUSED = {"error": "Not found"}


def _form(field: str, data: bytes, filename: str, mime: str, **fields: str) -> FormData:
    form = FormData(quote_fields=False)
    form.add_field(field, data, filename=filename, content_type=mime)
    for name, value in fields.items():
        form.add_field(name, value)
    return form


async def _dm_upload(client: Any, sender: TestUser, recipient: TestUser) -> dict[str, Any]:
    resp = await client.post(
        "/api/messages/upload",
        data=_form(
            "file", SECRET_BYTES, "minutes.pdf", "application/pdf", recipientId=recipient.id
        ),
        headers=sender.auth,
    )
    body = await resp.json()
    assert resp.status == 200, body
    return body


async def _stored(client: Any, table: str, message_id: str) -> str:
    """The file URL as the database keeps it (never signed)."""
    pool = client.app[SERVICES].pool
    return await pool.fetchval(f"SELECT file_url FROM {table} WHERE id = $1", message_id)


async def _granted(client: Any, url: str, headers: dict[str, str] | None = None) -> Any:
    resp = await client.get(url, headers=headers or {})
    assert resp.status == 200, await resp.text()
    assert await resp.read() == SECRET_BYTES
    return resp


async def _refused(client: Any, url: str, headers: dict[str, str] | None = None) -> None:
    resp = await client.get(url, headers=headers or {})
    assert resp.status == 404
    assert await resp.json() == REFUSED


def _private_cache(resp: Any) -> None:
    """A signed response: cached privately, never longer than the link lives."""
    cache = resp.headers["Cache-Control"]
    assert cache.startswith("private, max-age=")
    ttl = int(cache.rsplit("=", 1)[1])
    assert 0 < ttl <= 3600
    assert "public" not in cache and "immutable" not in cache


async def test_dm_attachment_reaches_its_two_participants_only(client):
    alice, bob, eve = [await make_user(client) for _ in range(3)]
    upload = await _dm_upload(client, alice, bob)
    stored = await _stored(client, "messages", upload["messageId"])
    assert stored.startswith("/uploads/messages/minutes-") and "?" not in stored

    # Bearer: both participants, revalidated on every use.
    for user in (alice, bob):
        resp = await _granted(client, stored, user.auth)
        assert resp.headers["Cache-Control"] == "private, no-cache"
        assert resp.headers["Content-Security-Policy"] == "sandbox"

    # The history a participant loads carries a signed link a plain tag can open.
    history = await (await client.get(f"/api/messages/{alice.id}", headers=bob.auth)).json()
    [message] = history["messages"]
    assert message["fileUrl"].startswith(f"{stored}?exp=")
    _private_cache(await _granted(client, message["fileUrl"]))
    # So does the uploader's own answer.
    assert upload["fileUrl"].startswith(f"{stored}?exp=")
    _private_cache(await _granted(client, upload["fileUrl"]))

    # Everyone else: an unrelated user, an anonymous widget guest, no token at all.
    await make_agent(client)
    guest = await start_guest(client)
    await _refused(client, stored, eve.auth)
    await _refused(client, stored, bearer(guest["token"]))
    await _refused(client, stored)
    # Eve's own history with Alice has nothing to sign.
    eves = await (await client.get(f"/api/messages/{alice.id}", headers=eve.auth)).json()
    assert eves["messages"] == []


async def test_bad_links_are_refused(client):
    alice, bob = [await make_user(client) for _ in range(2)]
    first = await _dm_upload(client, alice, bob)
    other = await _dm_upload(client, alice, bob)
    links = client.app[SERVICES].attachments
    url = first["fileUrl"]
    path, _, query = url.partition("?")
    exp = query.split("&")[0].removeprefix("exp=")
    sig = query.split("sig=")[1]
    key = path.removeprefix("/uploads/")
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    for bad in (
        f"{path}?exp={exp}&sig={flipped}",  # tampered signature
        f"{path}?exp={int(exp) + 1}&sig={sig}",  # stretched expiry
        f"{path}?exp={exp}",  # no signature
        f"{path}?sig={sig}",  # no expiry
        f"{path}?exp={exp}&sig={sig}xx",
        f"{path}?exp=-5&sig={sig}",
        f"{path}?exp={exp}&sig=%C3%A9{sig[2:]}",  # non-ASCII
        f"{other['fileUrl'].partition('?')[0]}?{query}",  # another file's signature
        links.link_for_key(key, expires=int(time.time()) - 1),  # expired
    ):
        await _refused(client, bad)
    # A valid signature does not conjure a file that is not there.
    await _refused(client, links.link_for_key("messages/never-uploaded.pdf"))
    # The untouched link still works.
    await _granted(client, url)


async def test_unsent_attachment_is_no_longer_served_by_header(client):
    alice, bob = [await make_user(client) for _ in range(2)]
    upload = await _dm_upload(client, alice, bob)
    stored = await _stored(client, "messages", upload["messageId"])
    await client.app[SERVICES].pool.execute(
        "UPDATE messages SET deleted_at = now() WHERE id = $1", upload["messageId"]
    )
    await _refused(client, stored, bob.auth)
    history = await (await client.get(f"/api/messages/{alice.id}", headers=bob.auth)).json()
    assert history["messages"][0]["fileUrl"] is None


async def test_live_events_carry_signed_links(client, connect):
    alice, bob = [await make_user(client) for _ in range(2)]
    a, b = await connect(alice), await connect(bob)
    upload = await _dm_upload(client, alice, bob)
    stored = await _stored(client, "messages", upload["messageId"])
    await a.emit(
        "message:send",
        {
            "recipientId": bob.id,
            "content": "minutes.pdf",
            "type": "file",
            "messageId": upload["messageId"],
            "fileUrl": upload["fileUrl"],
            "tempId": "temp-1",
        },
    )
    received = await b.wait("message:received")
    sent = await a.wait("message:sent")
    for payload in (received, sent):
        assert payload["fileUrl"].startswith(f"{stored}?exp=")
        _private_cache(await _granted(client, payload["fileUrl"]))
    # A text message is left alone.
    await a.emit("message:send", {"recipientId": bob.id, "content": "plain"})
    assert "fileUrl" not in await b.wait("message:received")


async def test_a_file_can_be_forwarded_only_by_someone_who_may_read_it(client, connect):
    alice, bob, eve, carol = [await make_user(client) for _ in range(4)]
    upload = await _dm_upload(client, alice, bob)
    stored = await _stored(client, "messages", upload["messageId"])
    e, c = await connect(eve), await connect(carol)

    # Eve learnt the path: sending it to Carol must not make it hers (nor Carol's).
    await e.emit("message:send", {"recipientId": carol.id, "content": "look", "fileUrl": stored})
    assert (await e.wait("error"))["message"] == "Invalid file URL"
    await _refused(client, stored, carol.auth)

    # Bob forwards the link he was shown: stored plain, and Carol may read it.
    b = await connect(bob)
    await b.emit(
        "message:send",
        {"recipientId": carol.id, "content": "fwd", "type": "file", "fileUrl": upload["fileUrl"]},
    )
    forwarded = await c.wait("message:received")
    assert await _stored(client, "messages", forwarded["id"]) == stored
    _private_cache(await _granted(client, forwarded["fileUrl"]))
    await _granted(client, stored, carol.auth)


async def _group(client: Any) -> tuple[str, list[TestUser]]:
    owner, member, invitee, outsider = [await make_user(client) for _ in range(4)]
    resp = await client.post(
        "/api/groups",
        headers=owner.auth,
        json={"name": "Board", "memberIds": [member.id, invitee.id]},
    )
    gid = (await resp.json())["group"]["id"]
    assert (await client.post(f"/api/groups/{gid}/accept", headers=member.auth)).status == 200
    return gid, [owner, member, invitee, outsider]


async def test_group_attachment_members_only(client, bus):
    gid, (owner, member, invitee, outsider) = await _group(client)
    resp = await client.post(
        f"/api/groups/{gid}/upload",
        data=_form("file", SECRET_BYTES, "minutes.pdf", "application/pdf"),
        headers=owner.auth,
    )
    upload = await resp.json()
    assert resp.status == 200, upload
    stored = await _stored(client, "group_messages", upload["messageId"])

    # The live group:message and the history carry signed links.
    live = next(p for _, p in bus.events("group:message") if p["id"] == upload["messageId"])
    assert live["fileUrl"].startswith(f"{stored}?exp=")
    _private_cache(await _granted(client, live["fileUrl"]))
    resp = await client.get(f"/api/groups/{gid}/messages", headers=member.auth)
    [message] = [m for m in (await resp.json())["messages"] if m["fileUrl"]]
    _private_cache(await _granted(client, message["fileUrl"]))
    groups = await (await client.get("/api/groups", headers=member.auth)).json()
    assert groups["groups"][0]["lastMessage"]["fileUrl"].startswith(f"{stored}?exp=")

    await _granted(client, stored, owner.auth)
    await _granted(client, stored, member.auth)
    # Invited but not accepted, and never invited: nothing.
    await _refused(client, stored, invitee.auth)
    await _refused(client, stored, outsider.auth)
    # Removed: the header stops working at once.
    resp = await client.delete(f"/api/groups/{gid}/members/{member.id}", headers=owner.auth)
    assert resp.status == 200
    await _refused(client, stored, member.auth)


async def test_widget_attachment_guest_and_agent_only(client):
    agent = await make_agent(client)
    guest = await start_guest(client)
    stranger = await start_guest(client, guestName="Other")
    resp = await client.post(
        "/api/widget/upload",
        data=_form("file", png_bytes(), "shot.png", "image/png"),
        headers=bearer(guest["token"]),
    )
    message = (await resp.json())["message"]
    stored = await _stored(client, "messages", message["id"])
    assert stored.startswith("/uploads/messages/widget-")
    # The answer, and the content that repeats the URL, are signed.
    assert (
        message["fileUrl"].startswith(f"{stored}?exp=") and message["content"] == message["fileUrl"]
    )
    history = await (await client.get("/api/widget/history", headers=bearer(guest["token"]))).json()
    [item] = history["messages"]
    assert item["fileUrl"].startswith(f"{stored}?exp=")
    resp = await client.get(item["fileUrl"])
    assert resp.status == 200 and await resp.read() == png_bytes()
    _private_cache(resp)
    # The agent's inbox shows the content (= the URL) signed as well.
    inbox = await (
        await client.get(
            f"/api/admin/widget-contacts/{guest['guestId']}/messages", headers=agent.auth
        )
    ).json()
    assert inbox["messages"][0]["content"].startswith(f"{stored}?exp=")

    for headers in (bearer(guest["token"]), agent.auth):
        assert (await client.get(stored, headers=headers)).status == 200
    resp = await client.get(stored, headers=bearer(stranger["token"]))
    assert resp.status == 404 and await resp.json() == REFUSED


async def test_profile_pictures_stay_public(client):
    user = await make_user(client)
    resp = await client.post(
        "/api/users/profile-image",
        data=_form("profileImage", png_bytes(), "me.png", "image/png"),
        headers=user.auth,
    )
    url = (await resp.json())["url"]
    assert "?" not in url
    resp = await client.get(url)
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
