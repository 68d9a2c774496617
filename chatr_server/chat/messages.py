"""Direct-message events: send, delivery and read receipts (events.md §6.1)."""

from __future__ import annotations

from time import perf_counter
from typing import Any

from chatr_server.chat.context import ChatContext, profile
from chatr_server.chat.guard import event
from chatr_server.metrics import Metrics
from chatr_server.realtime import Namespace, Socket
from chatr_server.services.message_input import InvalidPayload, bare_id, opt_uuid, parse_direct_send
from chatr_server.services.messaging import SEND_FAILED, MessagingService, SendRefused


class MessageHandlers:
    def __init__(self, ctx: ChatContext, metrics: Metrics) -> None:
        self._ctx = ctx
        self._metrics = metrics
        self._ack_observe = metrics.ack_seconds.observe

    @property
    def _messaging(self) -> MessagingService:
        return self._ctx.services.messaging

    def register(self, ns: Namespace) -> None:
        ns.on("message:send", self.send)
        ns.on("message:received", self.received)
        ns.on("message:read", self.read)
        ns.on("message:react", self.react)
        ns.on("message:edit", self.edit)
        ns.on("message:unsend", self.unsend)

    @event(SEND_FAILED)
    async def send(self, sock: Socket, data: Any = None, *_: Any) -> None:
        started = perf_counter()
        try:
            request = parse_direct_send(data)
            sent = await self._messaging.send_direct(profile(sock), request)
        except SendRefused as refused:
            self._metrics.refused("blocked")
            sock.emit(refused.event, refused.payload)
            return
        except Exception as exc:
            self._metrics.send_failed(exc)
            raise
        sock.emit("message:sent", sent)
        self._ack_observe(perf_counter() - started)

    @event("Failed to update message status")
    async def received(self, sock: Socket, data: Any = None, *_: Any) -> None:
        await self._messaging.mark_delivered(profile(sock).id, bare_id(data))

    @event("Failed to update message status")
    async def read(self, sock: Socket, data: Any = None, *_: Any) -> None:
        await self._messaging.mark_read(profile(sock).id, bare_id(data))

    @event("Failed to react to message")
    async def react(self, sock: Socket, data: Any = None, *_: Any) -> None:
        if not isinstance(data, dict):
            raise InvalidPayload()
        message_id = opt_uuid(data, "messageId")
        if message_id is None:
            raise InvalidPayload()
        await self._ctx.services.message_actions.react(
            profile(sock).id, message_id, data.get("emoji")
        )

    @event("Failed to edit message")
    async def edit(self, sock: Socket, data: Any = None, *_: Any) -> None:
        if not isinstance(data, dict):
            raise InvalidPayload()
        content = data.get("content")
        if not data.get("messageId") or not isinstance(content, str) or not content.strip():
            return  # the contract ignores these silently
        message_id = opt_uuid(data, "messageId")
        assert message_id is not None
        await self._ctx.services.message_actions.edit(profile(sock).id, message_id, content)

    @event("Failed to unsend message")
    async def unsend(self, sock: Socket, data: Any = None, *_: Any) -> None:
        me = profile(sock)
        await self._ctx.services.message_actions.unsend(me.id, me.name, bare_id(data))
