"""Killing the server mid-burst loses no acknowledged message and creates no duplicate.

The server runs as a real subprocess (``python -m chatr_server serve``) on the
test database; it is killed with SIGKILL while a client streams messages, then
restarted, and the client resends everything with the same temp ids.
"""

from __future__ import annotations

import asyncio
import signal
import uuid

import socketio

from chatr_server.appkeys import SERVICES
from tests.helpers import free_port, make_user, start_server

MESSAGES = 200


async def test_kill_9_loses_no_acknowledged_message(client, base_settings, tmp_path):
    alice, bob = await make_user(client), await make_user(client)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = await start_server(base_settings, port, tmp_path)
    acked: dict[str, str] = {}
    enough = asyncio.Event()
    try:
        sio = socketio.AsyncClient(reconnection=False)
        ready = asyncio.Event()
        sio.on("socket:ready", lambda *_: ready.set())

        @sio.on("message:sent")
        def on_sent(payload, *_offset):
            acked[payload["tempId"]] = payload["id"]
            if len(acked) >= 20:
                enough.set()

        await sio.connect(url, transports=["websocket"], auth={"token": alice.token})
        await asyncio.wait_for(ready.wait(), 5)
        for i in range(MESSAGES):
            await sio.emit(
                "message:send", {"recipientId": bob.id, "content": f"n{i}", "tempId": f"c{i}"}
            )
            if len(acked) >= 20:
                break
            await asyncio.sleep(0)
        await asyncio.wait_for(enough.wait(), 10)
        server.send_signal(signal.SIGKILL)
        await server.wait()
        await sio.disconnect()
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
    before_restart = dict(acked)
    assert before_restart, "some messages must have been acknowledged before the kill"

    server = await start_server(base_settings, port, tmp_path)
    try:
        sio = socketio.AsyncClient(reconnection=False)
        ready = asyncio.Event()
        sio.on("socket:ready", lambda *_: ready.set())
        confirmed: dict[str, str] = {}
        all_confirmed = asyncio.Event()

        @sio.on("message:sent")
        def on_confirmed(payload, *_offset):
            confirmed[payload["tempId"]] = payload["id"]
            if len(confirmed) == MESSAGES:
                all_confirmed.set()

        await sio.connect(url, transports=["websocket"], auth={"token": alice.token})
        await asyncio.wait_for(ready.wait(), 5)
        for i in range(MESSAGES):
            await sio.emit(
                "message:send", {"recipientId": bob.id, "content": f"n{i}", "tempId": f"c{i}"}
            )
        await asyncio.wait_for(all_confirmed.wait(), 10)
        await sio.disconnect()
    finally:
        server.terminate()
        await server.wait()
    assert len(confirmed) == MESSAGES
    # Every message acknowledged before the crash kept its id.
    for temp_id, message_id in before_restart.items():
        assert confirmed[temp_id] == message_id
    rows = await client.app[SERVICES].pool.fetch(
        "SELECT temp_id FROM messages WHERE sender_id = $1", uuid.UUID(alice.id)
    )
    temp_ids = [r["temp_id"] for r in rows]
    assert len(temp_ids) == MESSAGES
    assert set(temp_ids) == {f"c{i}" for i in range(MESSAGES)}
