"""Voice-call signalling events (events.md §6.4)."""

from __future__ import annotations

from typing import Any

import orjson

from chatr_server.chat.context import ChatContext, profile
from chatr_server.chat.guard import event, rpc
from chatr_server.realtime import Namespace, Socket
from chatr_server.services.calls import CallService
from chatr_server.services.message_input import InvalidPayload, opt_uuid


def _call_id(data: Any) -> Any:
    if not isinstance(data, dict):
        raise InvalidPayload()
    call_id = opt_uuid(data, "callId")
    if call_id is None:
        raise InvalidPayload()
    return call_id


class CallHandlers:
    def __init__(self, ctx: ChatContext) -> None:
        self._ctx = ctx

    @property
    def _calls(self) -> CallService:
        return self._ctx.services.calls

    def register(self, ns: Namespace) -> None:
        ns.on("call:initiate", self.initiate)
        ns.on("call:accept", self.accept)
        ns.on("call:reject", self.reject)
        ns.on("call:hangup", self.hangup)
        ns.on("call:offer", self.offer)
        ns.on("call:answer", self.answer)
        ns.on("call:ice-candidate", self.ice_candidate)

    @rpc("Failed to initiate call")
    async def initiate(self, sock: Socket, data: Any = None, *_: Any) -> Any:
        if not isinstance(data, dict):
            raise InvalidPayload()
        return await self._calls.initiate(profile(sock).id, opt_uuid(data, "receiverId"))

    @event("Failed to accept call")
    async def accept(self, sock: Socket, data: Any = None, *_: Any) -> None:
        await self._calls.accept(profile(sock).id, _call_id(data))

    @event("Failed to reject call")
    async def reject(self, sock: Socket, data: Any = None, *_: Any) -> None:
        await self._calls.reject(profile(sock).id, _call_id(data))

    @event("Failed to end call")
    async def hangup(self, sock: Socket, data: Any = None, *_: Any) -> None:
        await self._calls.hang_up(profile(sock).id, _call_id(data))

    async def _relay(self, sock: Socket, data: Any, event_name: str, key: str) -> None:
        call_id = _call_id(data)
        target = opt_uuid(data, "targetUserId")
        if target is None or key not in data:
            raise InvalidPayload()
        size = len(orjson.dumps(data[key]))
        await self._calls.relay(profile(sock).id, call_id, target, event_name, key, data[key], size)

    @event("Failed to relay call signal")
    async def offer(self, sock: Socket, data: Any = None, *_: Any) -> None:
        await self._relay(sock, data, "call:offer", "sdp")

    @event("Failed to relay call signal")
    async def answer(self, sock: Socket, data: Any = None, *_: Any) -> None:
        await self._relay(sock, data, "call:answer", "sdp")

    @event("Failed to relay call signal")
    async def ice_candidate(self, sock: Socket, data: Any = None, *_: Any) -> None:
        await self._relay(sock, data, "call:ice-candidate", "candidate")
