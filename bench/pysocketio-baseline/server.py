"""Minimal python-socketio + asyncpg baseline for bench/compare.

    PORT=3202 DATABASE_URL=postgresql://... JWT_SECRET=... python server.py

The same workload as bench/node-baseline/server.js: the handshake verifies
the HS256 token in ``auth.token`` (hmac, same secret as chatr_server) and
selects the user row; the socket joins ``user:<id>`` and gets
``socket:ready``; ``message:send`` runs bench/send.sql (one round trip) and
emits ``message:received`` to ``user:<recipient>`` and ``message:sent`` to the
sender (events.md §7.2 fields). python-socketio's stock AsyncServer on aiohttp
with uvloop, default JSON module. Needs python-socketio, aiohttp, asyncpg
(all in the chatr_server dev environment).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import asyncpg
import socketio
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from baseline_common import SEND_SQL, USER_SQL, payloads, verify_token

SECRET = os.environ["JWT_SECRET"].encode()

sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
app = web.Application()
sio.attach(app)
users: dict[str, dict[str, Any]] = {}  # sid -> user row
online: dict[str, int] = {}  # user id -> sockets
state: dict[str, asyncpg.Pool] = {}


@sio.event
async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
    claims = verify_token(SECRET, auth.get("token") if isinstance(auth, dict) else None)
    if claims is None:
        raise socketio.exceptions.ConnectionRefusedError("Authentication error: Invalid token")
    row = await state["pool"].fetchrow(USER_SQL, claims["userId"])
    if row is None:
        raise socketio.exceptions.ConnectionRefusedError("Authentication error: User not found")
    user = dict(row)
    user["id"] = str(user["id"])
    users[sid] = user
    online[user["id"]] = online.get(user["id"], 0) + 1
    await sio.enter_room(sid, f"user:{user['id']}")
    await sio.emit("socket:ready", {"userId": user["id"]}, to=sid)


@sio.event
async def disconnect(sid: str, *_: Any) -> None:
    user = users.pop(sid, None)
    if user is None:
        return
    n = online.get(user["id"], 1) - 1
    if n <= 0:
        online.pop(user["id"], None)
    else:
        online[user["id"]] = n


@sio.on("message:send")
async def message_send(sid: str, data: Any = None) -> None:
    me = users.get(sid)
    if me is None:
        return
    try:
        content = data.get("content") if isinstance(data, dict) else None
        if not isinstance(content, str) or not content.strip():
            await sio.emit("error", {"message": "Message content is required"}, to=sid)
            return
        if not data.get("recipientId"):
            await sio.emit("error", {"message": "Recipient ID is required"}, to=sid)
            return
        recipient = str(data["recipientId"])
        temp_id = data.get("tempId")
        temp_id = None if temp_id is None else str(temp_id)
        m = await state["pool"].fetchrow(
            SEND_SQL, me["id"], recipient, content, temp_id, recipient in online
        )
        if m is None:
            return  # duplicate temp id
        received, sent = payloads(me, recipient, m, temp_id)
        await sio.emit("message:received", received, room=f"user:{recipient}")
        await sio.emit("message:sent", sent, to=sid)
    except Exception:
        await sio.emit("error", {"message": "Failed to send message"}, to=sid)


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def lifespan(_: web.Application):  # type: ignore[no-untyped-def]
    state["pool"] = await asyncpg.create_pool(
        os.environ["DATABASE_URL"],
        min_size=2,
        max_size=int(os.environ.get("DATABASE_POOL_SIZE", "20")),
    )
    yield
    await state["pool"].close()


def main() -> None:
    app.router.add_get("/api/health", health)
    app.cleanup_ctx.append(lifespan)
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    web.run_app(
        app,
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "3202")),
        loop=loop,
        print=None,
        access_log=None,
    )


if __name__ == "__main__":
    main()
