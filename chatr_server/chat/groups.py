"""Group events on the socket (events.md §6.3)."""

from __future__ import annotations

from typing import Any

from chatr_server.chat.context import ChatContext, profile
from chatr_server.chat.guard import event
from chatr_server.realtime import Namespace, Socket
from chatr_server.services.message_input import parse_group_send
from chatr_server.services.messaging import MessagingService


class GroupHandlers:
    def __init__(self, ctx: ChatContext) -> None:
        self._ctx = ctx

    @property
    def _messaging(self) -> MessagingService:
        return self._ctx.extra("messaging")

    def register(self, ns: Namespace) -> None:
        ns.on("group:message", self.message)

    @event("Failed to send group message", bare_error=True)
    async def message(self, sock: Socket, data: Any = None, *_: Any) -> None:
        request = parse_group_send(data)
        if request is None:
            return
        await self._messaging.send_group(profile(sock), request)
