"""Direct-message events: send, delivery and read receipts (events.md §6.1)."""

from __future__ import annotations

from collections.abc import Awaitable
from functools import partial
from time import perf_counter
from typing import Any

from chatr_server.chat.context import ChatContext, profile
from chatr_server.chat.guard import event, report_failure
from chatr_server.metrics import Metrics
from chatr_server.realtime import Namespace, Socket
from chatr_server.services.dependencies import has_nul
from chatr_server.services.message_input import (
    DirectSend,
    InvalidPayload,
    bare_id,
    opt_uuid,
    parse_direct_send,
)
from chatr_server.services.messaging import (
    SEND_FAILED,
    MessagingService,
    SendDone,
    SenderProfile,
    SendRefused,
)


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
        # Sends answered from the group commit's callback: a drain waits for them.
        ns.server.on_pending_work(lambda: self._messaging.wait_idle())

    def send(self, sock: Socket, data: Any = None, *_: Any) -> Awaitable[None] | None:
        """``message:send``. A plain function: a send to a user connected here (the
        common case) queues its write and returns, and the group commit answers it
        (``_answer``), with no task per message. Other sends return a coroutine,
        which the realtime layer runs as the socket's task.

        Events stay in order per socket: a socket whose task is busy queues this
        event behind it, and writes leave the group commit in submission order.
        """
        started = perf_counter()
        try:
            if has_nul(data):
                raise InvalidPayload()
            request = parse_direct_send(data)
            me = profile(sock)
            answer = partial(self._answer, sock, started)
            if self._messaging.send_direct_now(me, request, answer):
                return None
        except Exception as exc:
            self._answer(sock, started, None, exc)
            return None
        return self._send_awaiting(me, request, answer)

    async def _send_awaiting(
        self, me: SenderProfile, request: DirectSend, answer: SendDone
    ) -> None:
        try:
            sent = await self._messaging.send_direct(me, request)
        except Exception as exc:
            answer(None, exc)
        else:
            answer(sent, None)

    def _answer(
        self, sock: Socket, started: float, sent: dict[str, Any] | None, exc: Exception | None
    ) -> None:
        """``message:sent``, ``message:blocked`` or ``error`` to the sending socket."""
        if exc is None:
            sock.emit("message:sent", sent)
            self._ack_observe(perf_counter() - started)
        elif isinstance(exc, SendRefused):
            self._metrics.refused("blocked")
            sock.emit(exc.event, exc.payload)
        else:
            self._metrics.send_failed(exc)
            report_failure(self, sock, "send", exc, SEND_FAILED)

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
