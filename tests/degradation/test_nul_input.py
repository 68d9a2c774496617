"""Text PostgreSQL cannot store (NUL) is bad input: 400 / "Invalid payload", never 500.

Every check also asserts that nothing was logged at ERROR (no traceback).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import FormData

from tests.helpers import PASSWORD, make_user, register
from tests.live import LiveClient


def _no_errors(log_records: Callable[[], list[logging.LogRecord]]) -> None:
    bad = [r for r in log_records() if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


async def test_nul_in_path_and_query_is_400(client, log_records):
    user = await make_user(client)
    for url in ("/api/users/%00", "/api/users/search?q=%00", "/api/users/search?q=a%00b"):
        resp = await client.get(url, headers=user.auth)
        assert resp.status == 400, url
        assert await resp.json() == {"error": "Invalid input"}
    _no_errors(log_records)


async def test_nul_in_json_fields_is_400(client, log_records):
    user = await make_user(client)
    resp = await client.put("/api/users/me", json={"firstName": "A\u0000B"}, headers=user.auth)
    assert resp.status == 400
    assert await resp.json() == {"error": "Invalid input"}
    resp = await client.post(
        "/api/auth/login", json={"email": "a\u0000@example.com", "password": PASSWORD}
    )
    assert resp.status == 400
    status, body, _ = await register(client, firstName="Nul\u0000Name")
    assert (status, body) == (400, {"error": "Invalid input"})
    # Keys count too.
    resp = await client.put("/api/users/me", json={"first\u0000Name": "x"}, headers=user.auth)
    assert resp.status == 400
    _no_errors(log_records)


async def test_escaped_backslash_u0000_text_is_not_a_nul(client):
    """A user who types the six characters ``\\u0000`` gets them stored as typed."""
    user = await make_user(client)
    resp = await client.put("/api/users/me", json={"firstName": "A\\u0000B"}, headers=user.auth)
    assert resp.status == 200, await resp.text()
    me = await (await client.get("/api/users/me", headers=user.auth)).json()
    assert me["firstName"] == "A\\u0000B"


async def test_nul_in_multipart_text_field_is_400(client, log_records):
    alice = await make_user(client)
    bob = await make_user(client)
    form = FormData(quote_fields=False)
    form.add_field("file", b"hello", filename="notes.txt", content_type="text/plain")
    form.add_field("recipientId", bob.id)
    form.add_field("caption", "see\u0000attached")
    resp = await client.post("/api/messages/upload", data=form, headers=alice.auth)
    assert resp.status == 400
    assert await resp.json() == {"error": "Invalid input"}
    _no_errors(log_records)


async def test_nul_in_socket_payloads_is_invalid_payload(client, connect, log_records):
    alice = await make_user(client)
    bob = await make_user(client)
    sock: LiveClient = await connect(alice)
    await sock.emit(
        "message:send", {"recipientId": bob.id, "content": "hi\u0000there", "tempId": "t-nul"}
    )
    assert await sock.wait("error") == {"message": "Invalid payload"}
    # Any event, with an ack: the ack answers the same text.
    assert await sock.call("users:search", {"q": "x\u0000"}) == {"error": "Invalid payload"}
    assert await sock.call("users:me:update", {"firstName": "A\u0000B"}) == {
        "error": "Invalid payload"
    }
    # The connection is intact: a clean send is stored and acknowledged.
    await sock.emit("message:send", {"recipientId": bob.id, "content": "hello", "tempId": "t-ok"})
    sent = await sock.wait("message:sent")
    assert sent["tempId"] == "t-ok"
    _no_errors(log_records)
