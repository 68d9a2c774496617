"""The floor under chatr_server's message path: its own transport, no chat logic.

    PORT=3203 DATABASE_URL=postgresql://... JWT_SECRET=... python server.py

What any server built on chatr_server's stack (CPython, uvloop, aiohttp for the
handshake, ``chatr_server.realtime`` for Engine.IO / Socket.IO, asyncpg) pays per
``message:send`` before it does any chat work. It does what the minimal Node
baseline (bench/node-baseline/server.js) does, in the cheapest form that stack
allows:

* the handshake verifies the HS256 token in ``auth.token`` (hmac) and selects the
  user row; the socket joins ``user:<id>`` and gets ``socket:ready``;
* ``message:send`` runs bench/send.sql (one round trip) on one kept connection, from
  a synchronous handler (the statement's task answers from its done callback; as in
  chatr_server, the socket does not wait in a task of its own), and emits
  ``message:received`` to ``user:<recipient>`` and ``message:sent`` to the sender
  with the Node baseline's fields.

Sends that arrive while a statement is in flight wait for it in a queue (an asyncpg
connection runs one statement at a time); there is no batching, so at a low rate
each message is exactly one statement, as for the Node baseline.

bench/compare runs it as ``floor`` (accepted pairs only). Needs the chatr_server
environment.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import deque
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web

from chatr_server.realtime import ConnectionRefused, Socket, SocketServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from baseline_common import SEND_SQL, USER_SQL, payloads, verify_token

SECRET = os.environ["JWT_SECRET"].encode()
USER = "user"


class Floor:
    """The handlers, one kept writer connection and the queue in front of it."""

    def __init__(self, sio: SocketServer) -> None:
        self.ns = sio.of("/")
        self.pool: asyncpg.Pool | None = None
        self.writer: asyncpg.Connection | None = None
        self.online: dict[str, int] = {}
        self.queue: deque[tuple[Socket, dict[str, Any], str, str, str | None]] = deque()
        self.busy = False
        self.ns.on_connect(self.connect)
        self.ns.on_connected(self.connected)
        self.ns.on_disconnect(self.disconnected)
        self.ns.on("message:send", self.send)

    async def connect(self, sock: Socket, auth: Any) -> None:
        claims = verify_token(SECRET, auth.get("token") if isinstance(auth, dict) else None)
        if claims is None:
            raise ConnectionRefused("Authentication error: Invalid token")
        assert self.pool is not None
        row = await self.pool.fetchrow(USER_SQL, claims["userId"])
        if row is None:
            raise ConnectionRefused("Authentication error: User not found")
        user = dict(row)
        user["id"] = str(user["id"])
        sock.data[USER] = user

    def connected(self, sock: Socket) -> None:
        me = sock.data[USER]
        self.online[me["id"]] = self.online.get(me["id"], 0) + 1
        sock.join(f"user:{me['id']}")
        sock.emit("socket:ready", {"userId": me["id"]})

    def disconnected(self, sock: Socket, reason: str) -> None:
        me = sock.data.get(USER)
        if me is None:
            return
        n = self.online.get(me["id"], 1) - 1
        if n <= 0:
            self.online.pop(me["id"], None)
        else:
            self.online[me["id"]] = n

    def send(self, sock: Socket, data: Any = None) -> None:
        content = data.get("content") if isinstance(data, dict) else None
        if not isinstance(content, str) or not content.strip():
            sock.emit("error", {"message": "Message content is required"})
            return
        if not data.get("recipientId"):
            sock.emit("error", {"message": "Recipient ID is required"})
            return
        temp_id = data.get("tempId")
        item = (
            sock,
            sock.data[USER],
            str(data["recipientId"]),
            content,
            None if temp_id is None else str(temp_id),
        )
        self.queue.append(item)
        if not self.busy:
            self._next()

    def _next(self) -> None:
        _, me, recipient, content, temp_id = item = self.queue.popleft()
        assert self.writer is not None
        self.busy = True
        args = (me["id"], recipient, content, temp_id, recipient in self.online)
        future = asyncio.ensure_future(self.writer.fetchrow(SEND_SQL, *args))
        future.add_done_callback(lambda f: self._stored(item, f))

    def _stored(self, item: tuple[Any, ...], future: asyncio.Future[Any]) -> None:
        self.busy = False
        if self.queue:
            self._next()
        sock, me, recipient, _, temp_id = item
        if future.exception() is not None:
            sock.emit("error", {"message": "Failed to send message"})
            return
        m = future.result()
        if m is None:
            return  # duplicate temp id
        received, sent = payloads(me, recipient, m, temp_id)
        self.ns.emit("message:received", received, to=f"user:{recipient}")
        sock.emit("message:sent", sent)


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def build_app() -> web.Application:
    app = web.Application()
    sio = SocketServer()
    floor = Floor(sio)
    sio.attach(app)
    app.router.add_get("/api/health", health)

    async def database(_: web.Application):  # type: ignore[no-untyped-def]
        floor.pool = await asyncpg.create_pool(
            os.environ["DATABASE_URL"],
            min_size=1,
            max_size=int(os.environ.get("DATABASE_POOL_SIZE", "20")),
        )
        floor.writer = await asyncpg.connect(os.environ["DATABASE_URL"])
        yield
        await floor.writer.close()
        await floor.pool.close()

    app.cleanup_ctx.append(database)
    return app


def main() -> None:
    import uvloop

    signal.signal(signal.SIGTERM, signal.default_int_handler)
    web.run_app(
        build_app(),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "3203")),
        loop=uvloop.new_event_loop(),
        print=None,
        access_log=None,
    )


if __name__ == "__main__":
    main()
