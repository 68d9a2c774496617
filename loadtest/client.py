"""A minimal Engine.IO v4 / Socket.IO v5 client for the default namespace.

Just what the load test needs: connect with an ``auth`` object, emit events
without acks, answer pings, and hand every received event to a callback.
Two transports: ``websocket`` (direct, no polling upgrade) and ``polling``
(HTTP long polling only). Text packets only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

EventHandler = Callable[[str, Any], None]
SEP = "\x1e"


class ConnectError(Exception):
    pass


class SioClient:
    """One Socket.IO connection. ``on_event(name, data)`` is called synchronously."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        auth: dict[str, Any],
        on_event: EventHandler,
        transport: str = "websocket",
        on_close: Callable[[SioClient, str], None] | None = None,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/") + "/socket.io/?EIO=4&transport="
        self._auth = auth
        self._on_event = on_event
        self._on_close = on_close
        self.transport = transport
        self.connected = False
        self.closed = False
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._sid: str | None = None
        self._sio_ack: asyncio.Future[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._outbox: list[str] = []
        self._flush: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        self._poll_url = ""

    # ---- public -------------------------------------------------------

    async def connect(self, limit_s: float) -> None:
        loop = asyncio.get_running_loop()
        self._sio_ack = loop.create_future()
        async with asyncio.timeout(limit_s):
            if self.transport == "websocket":
                await self._open_websocket()
            else:
                await self._open_polling()
            await self._sio_ack

    def emit(self, event: str, data: Any) -> None:
        """Queue ``42["event",data]``; never blocks."""
        self._send("42" + orjson.dumps([event, data]).decode())

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.connected = False
            with contextlib.suppress(Exception):
                if self._ws is not None:
                    await self._ws.close()
                elif self._sid is not None:
                    async with asyncio.timeout(2):
                        async with self._session.post(self._poll_url, data="1") as resp:
                            await resp.read()
        # Also after the server closed first (_lost): the reader and writer must end.
        for task in (self._reader, self._writer):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    # ---- packets ------------------------------------------------------

    def _send(self, packet: str) -> None:
        if self.closed:
            return
        self._outbox.append(packet)
        if self._flush is not None:
            self._flush.set()

    def _packet(self, text: str) -> None:
        kind = text[:1]
        if kind == "4":  # Engine.IO message → Socket.IO packet
            sio = text[1:2]
            if sio == "2":
                body = text[2:]
                # Events from the server carry no namespace and no ack id here.
                if body[:1] != "[":
                    i = body.find("[")
                    body = body[i:] if i >= 0 else "[]"
                try:
                    event = orjson.loads(body)
                except orjson.JSONDecodeError:
                    return
                if event:
                    self._on_event(event[0], event[1] if len(event) > 1 else None)
            elif sio == "0":
                self.connected = True
                if self._sio_ack is not None and not self._sio_ack.done():
                    self._sio_ack.set_result(None)
            elif sio == "4":
                detail = text[2:]
                if self._sio_ack is not None and not self._sio_ack.done():
                    self._sio_ack.set_exception(ConnectError(detail))
            elif sio == "1":
                self._lost("server disconnect")
        elif kind == "2":  # ping → pong
            self._send("3" + text[1:])
        elif kind == "0":  # open
            info = orjson.loads(text[1:])
            self._sid = info["sid"]
            self._send("40" + orjson.dumps(self._auth).decode())
        elif kind == "1":
            self._lost("engine close")

    def _lost(self, reason: str) -> None:
        self.connected = False
        if self._sio_ack is not None and not self._sio_ack.done():
            self._sio_ack.set_exception(ConnectError(reason))
        if not self.closed:
            self.closed = True
            if self._on_close is not None:
                self._on_close(self, reason)

    # ---- websocket ----------------------------------------------------

    async def _open_websocket(self) -> None:
        url = self._base.replace("http", "ws", 1) + "websocket"
        self._ws = await self._session.ws_connect(
            url, autoping=True, max_msg_size=0, compress=0, heartbeat=None
        )
        self._flush = asyncio.Event()
        self._reader = asyncio.create_task(self._ws_reader())
        self._writer = asyncio.create_task(self._ws_writer())

    async def _ws_reader(self) -> None:
        assert self._ws is not None
        reason = "websocket closed"
        try:
            async for msg in self._ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self._packet(msg.data)
                elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                    break
        except Exception as exc:  # pragma: no cover - network failure
            reason = f"websocket error: {exc!r}"
        self._lost(reason)

    async def _ws_writer(self) -> None:
        assert self._ws is not None and self._flush is not None
        ws, flush = self._ws, self._flush
        while not self.closed:
            await flush.wait()
            flush.clear()
            batch, self._outbox = self._outbox, []
            try:
                for packet in batch:
                    await ws.send_str(packet)
            except ConnectionError:
                self._lost("websocket closed")
                return

    # ---- polling ------------------------------------------------------

    async def _open_polling(self) -> None:
        url = self._base + "polling"
        async with self._session.get(url) as resp:
            if resp.status != 200:
                raise ConnectError(f"polling handshake HTTP {resp.status}")
            body = await resp.text()
        for packet in body.split(SEP):
            self._packet(packet)
        if self._sid is None:
            raise ConnectError("no open packet")
        self._poll_url = f"{url}&sid={self._sid}"
        self._flush = asyncio.Event()
        if self._outbox:
            self._flush.set()
        self._reader = asyncio.create_task(self._poll_reader())
        self._writer = asyncio.create_task(self._poll_writer())

    async def _poll_reader(self) -> None:
        reason = "polling closed"
        try:
            while not self.closed:
                async with self._session.get(self._poll_url) as resp:
                    if resp.status != 200:
                        reason = f"poll HTTP {resp.status}"
                        break
                    body = await resp.text()
                for packet in body.split(SEP):
                    if packet:
                        self._packet(packet)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # pragma: no cover - network failure
            reason = f"poll error: {exc!r}"
        self._lost(reason)

    async def _poll_writer(self) -> None:
        assert self._flush is not None
        flush = self._flush
        while True:
            await flush.wait()
            flush.clear()
            if not self._outbox:
                continue
            batch, self._outbox = self._outbox, []
            async with self._session.post(self._poll_url, data=SEP.join(batch)) as resp:
                await resp.read()
                if resp.status != 200:
                    self._lost(f"post HTTP {resp.status}")
                    return
            if self.closed:
                return
