"""Direct-message events: send, delivery and read receipts (events.md §6.1)."""

from __future__ import annotations

from typing import Any

from chatr_server.chat.context import ChatContext, profile
from chatr_server.chat.guard import event
from chatr_server.realtime import Namespace, Socket
from chatr_server.services.message_input import bare_id, parse_direct_send
from chatr_server.services.messaging import MessagingService, SendRefused


class MessageHandlers:
    def __init__(self, ctx: ChatContext) -> None:
        self._ctx = ctx

    @property
    def _messaging(self) -> MessagingService:
        return self._ctx.extra("messaging")

    def register(self, ns: Namespace) -> None:
        ns.on("message:send", self.send)
        ns.on("message:received", self.received)
        ns.on("message:read", self.read)

    @event("Failed to send message")
    async def send(self, sock: Socket, data: Any = None, *_: Any) -> None:
        request = parse_direct_send(data)
        try:
            sent = await self._messaging.send_direct(profile(sock), request)
        except SendRefused as refused:
            sock.emit(refused.event, refused.payload)
            return
        sock.emit("message:sent", sent)

    @event("Failed to update message status")
    async def received(self, sock: Socket, data: Any = None, *_: Any) -> None:
        await self._messaging.mark_delivered(profile(sock).id, bare_id(data))

    @event("Failed to update message status")
    async def read(self, sock: Socket, data: Any = None, *_: Any) -> None:
        await self._messaging.mark_read(profile(sock).id, bare_id(data))
