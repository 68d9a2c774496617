"""Reactions, edits and unsend of DMs (events.md §6.1), each only for the right user."""

from __future__ import annotations

from tests.helpers import make_user
from tests.live import settle


async def _conversation(client, connect):
    alice, bob, eve = await make_user(client), await make_user(client), await make_user(client)
    a, b, e = await connect(alice), await connect(bob), await connect(eve)
    await a.emit("message:send", {"recipientId": bob.id, "content": "original"})
    sent = await a.wait("message:sent")
    await b.wait("message:received")
    return (alice, a), (bob, b), (eve, e), sent


async def test_reactions_toggle_and_replace(client, connect):
    (_alice, a), (bob, b), (_eve, e), sent = await _conversation(client, connect)
    await b.emit("message:react", {"messageId": sent["id"], "emoji": "👍"})
    event = await a.wait("message:reaction")
    assert event == {
        "messageId": sent["id"],
        "reactions": [{"userId": bob.id, "username": bob.username, "emoji": "👍"}],
    }
    assert (await b.wait("message:reaction")) == event
    await b.emit("message:react", {"messageId": sent["id"], "emoji": "❤️"})
    assert (await a.wait("message:reaction"))["reactions"][0]["emoji"] == "❤️"
    await b.emit("message:react", {"messageId": sent["id"], "emoji": "❤️"})
    assert (await a.wait("message:reaction"))["reactions"] == []
    await e.emit("message:react", {"messageId": sent["id"], "emoji": "😈"})
    assert await e.wait("error") == {"message": "Message not found"}
    await b.emit("message:react", {"messageId": sent["id"], "emoji": 5})
    assert await b.wait("error") == {"message": "Invalid payload"}


async def test_edit_rules_and_history(client, connect):
    (alice, a), (bob, b), (eve, _e), sent = await _conversation(client, connect)
    await b.emit("message:edit", {"messageId": sent["id"], "content": "hijack"})
    assert await b.wait("error") == {"message": "Not authorised to edit this message"}
    await a.emit("message:edit", {"messageId": sent["id"], "content": "  fixed  "})
    edited = await b.wait("message:edited")
    assert edited["messageId"] == sent["id"] and edited["content"] == "fixed" and edited["editedAt"]
    await a.emit("message:edit", {"messageId": sent["id"], "content": "   "})  # ignored
    resp = await client.get(f"/api/messages/{sent['id']}/edits", headers=bob.auth)
    body = await resp.json()
    assert resp.status == 200
    assert body["messageId"] == sent["id"]
    assert [e["previousContent"] for e in body["edits"]] == ["original"]
    assert body["edits"][0]["editedBy"]["id"] == alice.id
    assert (await client.get(f"/api/messages/{sent['id']}/edits", headers=eve.auth)).status == 403
    assert (await client.get("/api/messages/not-a-uuid/edits", headers=bob.auth)).status == 404
    assert (await client.get(f"/api/messages/{sent['id']}/edits")).status == 401


async def test_unsend_only_by_sender(client, connect):
    (_alice, a), (_bob, b), (_eve, _e), sent = await _conversation(client, connect)
    await b.emit("message:unsend", sent["id"])
    await settle(b, a)
    assert a.events["message:unsent"] == []
    await a.emit("message:unsend", sent["id"])
    unsent = await b.wait("message:unsent")
    assert unsent == {"messageId": sent["id"], "senderDisplayName": "Test User"}
    await a.emit("message:edit", {"messageId": sent["id"], "content": "too late"})
    assert await a.wait("error") == {"message": "Cannot edit an unsent message"}
    await a.emit("message:unsend", sent["id"])  # idempotent: nothing more
    await settle(a, b)
    assert len(b.events["message:unsent"]) == 1
    await a.emit("message:unsend", {"nope": 1})
    assert await a.wait("error") == {"message": "Invalid payload"}
