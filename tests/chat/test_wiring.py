"""One typed container, one event bus: every service emits on the object the tests record.

Before the container, messaging, calls, widget and admin got a bus the test
fixture never saw; these tests fail if any service is again given a bus of
its own.
"""

from __future__ import annotations

import uuid
from dataclasses import fields

from chatr_server.appkeys import SERVICES
from chatr_server.container import Services
from tests.helpers import TestUser, make_user


def test_every_service_holds_the_containers_one_bus(client, bus):
    services: Services = client.app[SERVICES]
    holders = []
    for field in fields(Services):
        value = getattr(services, field.name)
        if hasattr(value, "_bus"):
            assert value._bus is services.bus, field.name
            holders.append(field.name)
    # The ones that emit; the list guards the check itself against a rename of `_bus`.
    assert {
        "auth",
        "conversations",
        "profile_events",
        "groups",
        "group_roles",
        "group_uploads",
        "uploads",
        "messaging",
        "message_actions",
        "calls",
        "widget",
        "admin",
    } <= set(holders)
    # ...and that one bus is the test recorder's wrapper, installed before the services.
    probe = {"groupId": str(uuid.uuid4())}  # a registered event: its payload is checked too
    services.bus.to_user("someone", "group:removed", probe)
    assert bus.events("group:removed") == [("someone", probe)]


async def test_bus_records_messaging_and_calls(client, connect, bus):
    alice, bob = await make_user(client), await make_user(client)
    a, b = await connect(alice), await connect(bob)
    await a.emit("message:send", {"recipientId": bob.id, "content": "hello", "tempId": "t1"})
    received = await b.wait("message:received")
    assert bus.events("message:received") == [(bob.id, received)]

    ack = await a.call("call:initiate", {"receiverId": bob.id})
    incoming = await b.wait("call:incoming")
    assert incoming["callId"] == ack["callId"]
    assert bus.events("call:incoming") == [(bob.id, incoming)]


async def _make_agent(client) -> TestUser:
    agent = await make_user(client)
    async with client.app[SERVICES].pool.acquire() as conn:
        await conn.execute("UPDATE users SET is_support = false WHERE is_support")
        await conn.execute(
            "UPDATE users SET is_support = true, email_verified = true WHERE id = $1", agent.id
        )
    return agent


async def test_bus_records_widget_and_admin(client, bus):
    agent = await _make_agent(client)
    resp = await client.post(
        "/api/widget/offline-message", json={"guestName": "Ann", "message": "call me"}
    )
    assert resp.status == 200, await resp.json()
    [(to, payload)] = bus.events("widget:offline-message")
    assert to == agent.id and payload["message"] == "call me"

    resp = await client.post("/api/widget/guest-session", json={"guestName": "Hal"})
    guest = await resp.json()
    assert resp.status == 200, guest
    resp = await client.post(
        f"/api/admin/widget-contacts/{guest['guestId']}/reply",
        json={"content": "How can I help?"},
        headers=agent.auth,
    )
    assert resp.status == 200
    message = (await resp.json())["message"]
    assert bus.events("message:received") == [(guest["guestId"], message)]
