"""Group events on the socket (events.md §6.3)."""

from __future__ import annotations

from typing import Any

from chatr_server.chat.context import ChatContext, group_room, profile
from chatr_server.chat.guard import event, rpc
from chatr_server.errors import ServiceError
from chatr_server.metrics import Metrics
from chatr_server.realtime import Namespace, Socket
from chatr_server.services.groups import GroupService
from chatr_server.services.message_input import (
    MAX_CONTENT_CHARS,
    InvalidPayload,
    bare_id,
    link_preview,
    opt_uuid,
    parse_group_send,
)
from chatr_server.services.messaging import MessagingService
from chatr_server.util.timefmt import iso_ms, utcnow


class GroupHandlers:
    def __init__(self, ctx: ChatContext, metrics: Metrics) -> None:
        self._ctx = ctx
        self._metrics = metrics

    @property
    def _messaging(self) -> MessagingService:
        return self._ctx.services.messaging

    @property
    def _groups(self) -> GroupService:
        return self._ctx.services.groups

    def register(self, ns: Namespace) -> None:
        ns.on("group:message", self.message)
        ns.on("group:messages:history", self.history)
        ns.on("group:typing", self.typing)
        ns.on("group:message:unsend", self.unsend)
        ns.on("group:join", self.join_room)
        ns.on("group:leave", self.leave_room)
        ns.on("group:message:send", self.legacy_send)

    @event("Failed to send group message", bare_error=True)
    async def message(self, sock: Socket, data: Any = None, *_: Any) -> None:
        with self._metrics.counting_refusals():
            request = parse_group_send(data)
            if request is None:
                return
            await self._messaging.send_group(profile(sock), request)

    @rpc("Failed to load group messages")
    async def history(self, sock: Socket, data: Any = None, *_: Any) -> Any:
        if not isinstance(data, dict) or not data.get("groupId"):
            return {"error": "groupId is required"}
        try:
            messages = await self._groups.history(
                profile(sock).id, data["groupId"], data.get("limit"), data.get("before")
            )
        except ServiceError as exc:
            if exc.message.startswith("Accept the group invite"):
                return {"error": "Accept the group invite first"}
            raise
        return {"messages": messages}

    @event("Failed to send typing status")
    async def typing(self, sock: Socket, data: Any = None, *_: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("isTyping"), bool):
            raise InvalidPayload()
        group_id = opt_uuid(data, "groupId")
        if group_id is None:
            raise InvalidPayload()
        me = profile(sock)
        async with self._ctx.services.pool.acquire() as conn:
            await self._groups.require_accepted_member(conn, me.id, group_id)
        others = [m for m in await self._groups.accepted_member_ids(group_id) if m != me.id]
        self._ctx.services.bus.to_users(
            others,
            "group:typing",
            {
                "groupId": str(group_id),
                "userId": me.id,
                "displayName": me.name,
                "isTyping": data["isTyping"],
            },
        )

    @event("Failed to unsend group message")
    async def unsend(self, sock: Socket, data: Any = None, *_: Any) -> None:
        me = profile(sock)
        message_id = bare_id(data)
        group_id = await self._messaging.unsend_group_message(me.id, message_id)
        if group_id is None:
            return  # not the sender, unknown, or already unsent: ignored
        members = await self._groups.accepted_member_ids(group_id)
        self._ctx.services.bus.to_users(
            members,
            "group:message:unsent",
            {"messageId": str(message_id), "groupId": str(group_id), "senderDisplayName": me.name},
        )

    @event("Failed to join group")
    async def join_room(self, sock: Socket, data: Any = None, *_: Any) -> None:
        group_id = bare_id(data, "groupId")
        me = profile(sock)
        # SEC-22: a pending join request or invite does not open the room.
        if await self._messaging.group_status(me.id, group_id) != "accepted":
            raise InvalidPayload("Not a member of this group")
        sock.join(group_room(group_id))
        await sock.synced()  # the other nodes' messages to the group reach this one
        sock.namespace.emit(
            "group:user:joined",
            {
                "groupId": str(group_id),
                "userId": me.id,
                "username": me.username,
                "timestamp": iso_ms(utcnow()),
            },
            to=group_room(group_id),
            skip_sid=sock.id,
        )

    @event("Failed to leave group")
    async def leave_room(self, sock: Socket, data: Any = None, *_: Any) -> None:
        group_id = bare_id(data, "groupId")
        room = group_room(group_id)
        if room not in sock.rooms:
            return
        sock.leave(room)
        me = profile(sock)
        sock.namespace.emit(
            "group:user:left",
            {
                "groupId": str(group_id),
                "userId": me.id,
                "username": me.username,
                "timestamp": iso_ms(utcnow()),
            },
            to=room,
        )

    @event("Failed to send group message")
    async def legacy_send(self, sock: Socket, data: Any = None, *_: Any) -> None:
        """The legacy room-based send: stored like ``group:message``, announced to the room."""
        with self._metrics.counting_refusals():
            await self._legacy_send(sock, data)

    async def _legacy_send(self, sock: Socket, data: Any) -> None:
        if not isinstance(data, dict):
            raise InvalidPayload()
        content = data.get("content")
        if not isinstance(content, str) or not content.strip():
            raise InvalidPayload("Message content is required")
        if len(content) > MAX_CONTENT_CHARS:
            raise InvalidPayload(f"Message content must be at most {MAX_CONTENT_CHARS} characters")
        group_id = opt_uuid(data, "groupId")
        if group_id is None:
            raise InvalidPayload()
        preview = link_preview(data)
        request = parse_group_send({**data, "groupId": str(group_id)})
        assert request is not None
        me = profile(sock)
        row = await self._messaging.store_group(me, request)
        payload: dict[str, Any] = {
            "id": str(row["id"]),
            "groupId": str(group_id),
            "senderId": me.id,
            "senderUsername": me.username,
            "content": row["content"],
            "type": row["type"],
            "timestamp": iso_ms(row["created_at"]),
        }
        if preview is not None:
            payload["linkPreview"] = preview
        sock.namespace.emit("group:message:received", payload, to=group_room(group_id))
