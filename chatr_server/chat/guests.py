"""What a widget guest's socket may do (SEC-23): an allow-list, not a deny-list.

A guest (anonymous ``POST /api/widget/guest-session``) chats with the support agent
over the ordinary events, and nothing else: every event outside :data:`GUEST_EVENTS`
is refused, so an event added later is closed to guests until it is listed here.
Events that name a recipient may only name the agent.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from chatr_server.chat.context import ChatContext, profile
from chatr_server.realtime import Namespace, Socket
from chatr_server.services.auth import GUEST_REFUSED
from chatr_server.util.ids import parse_uuid

# Event → whether its payload's recipientId must be the support agent.
GUEST_EVENTS: dict[str, bool] = {
    "message:send": True,
    "typing:start": True,
    "typing:stop": True,
    # Receipts: the messaging service checks that the caller is the recipient.
    "message:read": False,
    "message:received": False,
    "presence:update": False,
    "presence:request": False,
}


class GuestGate:
    """Wraps every registered handler; users pass straight through to it."""

    def __init__(self, ctx: ChatContext) -> None:
        self._ctx = ctx

    def install(self, ns: Namespace) -> None:
        """Call after every handler is registered."""
        for name, handler in ns.handlers.items():
            ns.on(name, self._wrap(name, handler))

    def _wrap(self, name: str, handler: Any) -> Any:
        needs_agent = GUEST_EVENTS.get(name)

        # A plain function, so a user's event costs one call and no extra task.
        def gated(sock: Socket, *args: Any) -> Awaitable[Any] | Any:
            if not profile(sock).is_guest:
                return handler(sock, *args)
            if needs_agent is None:
                return _refuse(sock)
            return self._guest(sock, handler, needs_agent, args)

        return gated

    async def _guest(self, sock: Socket, handler: Any, needs_agent: bool, args: tuple) -> Any:
        if needs_agent:
            data = args[0] if args else None
            recipient = parse_uuid(data.get("recipientId")) if isinstance(data, dict) else None
            agent = await self._ctx.services.widget.agent_id()
            if agent is None or str(recipient) != agent:
                return _refuse(sock)
        result = handler(sock, *args)
        return await result if isinstance(result, Awaitable) else result


def _refuse(sock: Socket) -> dict[str, str]:
    """The ``error`` event for events without ack; the ack value for those with one."""
    sock.emit("error", {"message": GUEST_REFUSED})
    return {"error": GUEST_REFUSED}
