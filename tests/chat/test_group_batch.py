"""Group messages sent at the same time share one statement (group commit), each
with the outcome it would have had alone (events.md §6.3)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from chatr_server.appkeys import SERVICES
from chatr_server.services.message_input import InvalidPayload, parse_group_send
from chatr_server.services.messaging import SenderProfile
from tests.groups.helpers import group_with, users
from tests.helpers import TestUser


def _me(user: TestUser) -> SenderProfile:
    return SenderProfile(user.id, user.username, "Test User", None, False)


def _send(gid: str, content: str, **extra: Any) -> Any:
    return parse_group_send({"groupId": gid, "content": content, **extra})


async def test_one_batch_answers_each_send_as_alone(client):
    owner, member, invitee, outsider = await users(client, 4)
    gid = await group_with(client, owner, accepted=[member], pending=[invitee])
    messaging = client.app[SERVICES].messaging
    sizes: list[int] = []
    messaging._group_writes._on_batch = sizes.append
    cases = [
        (owner, _send(gid, "first", tempId="gb-1")),
        (member, _send(gid, "second", tempId="gb-2")),
        (outsider, _send(gid, "let me in")),
        (invitee, _send(gid, "pending")),
        (owner, _send(gid, "first again", tempId="gb-1")),  # repeated in the batch
        (owner, _send(gid, "voice", messageId=str(uuid.uuid4()))),  # not an upload of theirs
        (member, _send(str(uuid.uuid4()), "nowhere")),
        (owner, _send(gid, "no temp id")),
    ]
    # One loop pass: one batch.
    out = await asyncio.gather(
        *(messaging.store_group(_me(u), req) for u, req in cases), return_exceptions=True
    )
    assert sizes == [len(cases)]
    first, second, outsider_out, invitee_out, again, upload, nowhere, plain = out
    assert [first["outcome"], second["outcome"], again["outcome"], plain["outcome"]] == [
        "created",
        "created",
        "duplicate",
        "created",
    ]
    assert again["id"] == first["id"] and again["content"] == "first"
    assert sorted(map(str, first["member_ids"])) == sorted([owner.id, member.id])
    refusals = {
        "outsider": outsider_out,
        "invitee": invitee_out,
        "upload": upload,
        "nowhere": nowhere,
    }
    assert all(isinstance(e, InvalidPayload) for e in refusals.values())
    assert {k: e.message for k, e in refusals.items()} == {
        "outsider": "Not a member of this group",
        "invitee": "Accept the group invite before sending messages",
        "upload": "Message not found",
        "nowhere": "Not a member of this group",
    }
    rows = await client.app[SERVICES].pool.fetch(
        "SELECT content, temp_id FROM group_messages WHERE group_id = $1 AND type <> 'system'",
        uuid.UUID(gid),
    )
    assert sorted((r["content"], r["temp_id"]) for r in rows) == [
        ("first", "gb-1"),
        ("no temp id", None),
        ("second", "gb-2"),
    ]


async def test_a_member_sending_in_a_burst_keeps_order_on_the_socket(client, connect):
    owner, member = await users(client, 2)
    gid = await group_with(client, owner, accepted=[member])
    o, m = await connect(owner), await connect(member)
    for n in range(20):
        await o.emit("group:message", {"groupId": gid, "content": f"m{n}", "tempId": f"b{n}"})
    got = await m.wait_count("group:message", 20)
    assert [g["content"] for g in got] == [f"m{n}" for n in range(20)]
    history = await m.call("group:messages:history", {"groupId": gid, "limit": 50})
    sent = [h["content"] for h in history["messages"] if h["type"] != "system"]
    assert sent == [f"m{n}" for n in range(20)]
