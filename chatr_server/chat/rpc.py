"""Ack-based RPC events (events.md §6.6): the same services, and bodies, as REST.

The web client asks for data over the socket first and falls back to REST
after a timeout or on any ``{"error": …}`` ack. Each entry below maps an
event to the service call of the matching REST route. Events this server
does not handle are answered at once with ``{"error": "Not implemented"}``
so the client's fallback starts without its 4-second wait.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from marshmallow import Schema

from chatr_server.chat.context import ChatContext, profile
from chatr_server.chat.guard import rpc
from chatr_server.container import Services
from chatr_server.realtime import Namespace, Socket
from chatr_server.schemas.groups import CreateGroupSchema, UpdateGroupSchema
from chatr_server.schemas.users import UpdateMeSchema
from chatr_server.services.message_input import InvalidPayload
from chatr_server.util.validation import validate

NOT_IMPLEMENTED = {"error": "Not implemented"}

Call = Callable[[Services, str, dict[str, Any]], Awaitable[Any]]
_update_me = UpdateMeSchema()
_create_group = CreateGroupSchema()
_update_group = UpdateGroupSchema()


async def _users_me(s: Services, uid: str, d: dict[str, Any]) -> Any:
    me = await s.users.me(uid)
    me.pop("isSupport", None)
    return me


async def _users_me_update(s: Services, uid: str, d: dict[str, Any]) -> Any:
    return await s.users.update_me(uid, validate(_update_me, d))


async def _messages_history(s: Services, uid: str, d: dict[str, Any]) -> Any:
    if not d.get("recipientId"):
        return {"error": "recipientId is required"}
    return await s.history.history(uid, d["recipientId"], d.get("limit"), d.get("before"))


async def _profile_request(s: Services, uid: str, d: dict[str, Any]) -> Any:
    target = d.get("targetUserId")
    if not target:
        return {"error": "Missing targetUserId"}
    return await s.directory.by_id(uid, target)


def _groups(name: str, *keys: str, body: bool = False, schema: Schema | None = None) -> Call:
    """A group RPC: ``groupId``, then the named keys (or the payload, loaded by ``schema``)."""

    async def call(s: Services, uid: str, d: dict[str, Any]) -> Any:
        method = getattr(s.groups, name)
        if body:
            return await method(uid, d.get("groupId"), d if schema is None else validate(schema, d))
        return await method(uid, d.get("groupId"), *(d.get(k) for k in keys))

    return call


def _social(name: str, key: str | None = None) -> Call:
    async def call(s: Services, uid: str, d: dict[str, Any]) -> Any:
        method = getattr(s.social, name)
        return await (method(uid, d.get(key)) if key else method(uid))

    return call


RPC: dict[str, Call] = {
    "users:me": _users_me,
    "users:me:update": _users_me_update,
    "users:me:settings": lambda s, uid, d: s.social.update_privacy(uid, d),
    "users:list": lambda s, uid, d: s.directory.list_users(uid),
    "users:search": lambda s, uid, d: s.directory.search(uid, d.get("q")),
    "user:profile:request": _profile_request,
    "conversations:request": lambda s, uid, d: s.history.conversations(uid),
    "messages:history": _messages_history,
    "friends:list": _social("list_friends"),
    "friends:requests:incoming": _social("incoming_requests"),
    "friends:requests:outgoing": _social("outgoing_requests"),
    "friends:blocked": _social("blocked_users"),
    "friends:search": _social("search", "q"),
    "friends:request": _social("send_request", "addresseeId"),
    "friends:accept": _social("accept_request", "friendshipId"),
    "friends:decline": _social("decline_request", "friendshipId"),
    "friends:remove": _social("remove_friendship", "friendshipId"),
    "friends:block": _social("block", "targetUserId"),
    "friends:unblock": _social("unblock", "targetUserId"),
    "friends:block-status": _social("block_status", "targetUserId"),
    "groups:list": lambda s, uid, d: s.groups.list_for(uid),
    "groups:invites": lambda s, uid, d: s.groups.invites(uid),
    "groups:detail": _groups("detail"),
    "groups:create": lambda s, uid, d: s.groups.create(uid, validate(_create_group, d)),
    "groups:update": _groups("update", body=True, schema=_update_group),
    "groups:accept": _groups("accept"),
    "groups:decline": _groups("decline"),
    "groups:members:add": _groups("add_member", body=True),
    "groups:members:remove": _groups("remove_member", "memberId"),
    "groups:members:promote": lambda s, uid, d: s.group_roles.promote(
        uid, d.get("groupId"), d.get("memberId")
    ),
    "groups:members:demote": lambda s, uid, d: s.group_roles.demote(
        uid, d.get("groupId"), d.get("memberId")
    ),
    "groups:leave": _groups("leave"),
    "groups:delete": _groups("delete"),
    "groups:transfer-ownership": lambda s, uid, d: s.group_roles.transfer_ownership(
        uid, d.get("groupId"), d
    ),
    "groups:step-down": lambda s, uid, d: s.group_roles.step_down(uid, d.get("groupId")),
    "conversation:accept": lambda s, uid, d: s.conversations.accept(uid, d.get("conversationId")),
    "conversation:decline": lambda s, uid, d: s.conversations.decline(uid, d.get("conversationId")),
    "conversation:nuke": lambda s, uid, d: s.conversations.nuke(uid, d.get("conversationId")),
    "conversation:nuke-by-user": lambda s, uid, d: s.conversations.nuke_by_user(
        uid, d.get("recipientId")
    ),
}


class RpcHandlers:
    def __init__(self, ctx: ChatContext) -> None:
        self._ctx = ctx

    def register(self, ns: Namespace) -> None:
        for name, call in RPC.items():
            ns.on(name, self._bind(call))
        ns.on_unknown(self.unknown)

    def _bind(self, call: Call) -> Callable[..., Awaitable[Any]]:
        async def handler(sock: Socket, data: Any = None, *_: Any) -> Any:
            return await self._invoke(sock, call, data)

        return handler

    @rpc()
    async def _invoke(self, sock: Socket, call: Call, data: Any) -> Any:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InvalidPayload()
        return await call(self._ctx.services, profile(sock).id, data)

    def unknown(self, sock: Socket, event: str, *args: Any) -> dict[str, str]:
        return NOT_IMPLEMENTED
