"""Handshake, connect sequence and disconnect (events.md §2, §3, §6.5)."""

from __future__ import annotations

import logging
from typing import Any

from chatr_server.chat.context import (
    HIDDEN,
    PEERS,
    PROFILE,
    TOKEN,
    TOKEN_ROOM_PREFIX,
    ChatContext,
    profile,
    token_room,
    user_room,
)
from chatr_server.errors import ServiceError
from chatr_server.realtime import ConnectionRefused, Namespace, Socket
from chatr_server.services.dependencies import UNAVAILABLE
from chatr_server.services.messaging import SenderProfile
from chatr_server.services.tokens import bearer_token
from chatr_server.util.timefmt import iso_ms, utcnow

log = logging.getLogger("chatr_server.chat")


class ConnectionHandlers:
    def __init__(self, ctx: ChatContext) -> None:
        self._ctx = ctx

    def register(self, ns: Namespace) -> None:
        ns.on_connect(self.on_connect)
        ns.on_connected(self.on_connected)
        ns.on_disconnect(self.on_disconnect)

    async def on_connect(self, sock: Socket, auth: Any) -> None:
        """Authenticate the handshake (events.md §2).

        ``Authentication error: …`` only when the token itself is bad (signature,
        expiry, revoked, its user gone): clients drop their session on it. When
        the user row or the revocation state cannot be read (PostgreSQL down) the
        refusal says ``Service temporarily unavailable`` instead, so the client
        keeps its session and reconnects. Accepting on the verified signature alone
        was rejected: a logged-out or password-reset token would get a live socket
        for as long as the outage lasts, and with the database down the socket
        could do nothing useful anyway.
        """
        token = auth.get("token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            token = bearer_token(sock.handshake.headers.get("Authorization"))
        if not token:
            raise ConnectionRefused("Authentication error: No token provided")
        try:
            # One query shared with the handshakes running meanwhile: the token's state,
            # the user row and the peers the connect sequence announces to.
            login = await self._ctx.services.auth.socket_login(token)
        except Exception as exc:
            if self._ctx.dependencies.refuse(exc) is not None:
                raise ConnectionRefused(UNAVAILABLE) from None
            if not isinstance(exc, ServiceError):  # ServiceError: the token is bad
                log.exception("socket handshake failed")
            raise ConnectionRefused("Authentication error: Invalid token") from None
        if login.profile is None:
            raise ConnectionRefused("Authentication error: User not found")
        sock.data[PROFILE], sock.data[HIDDEN] = login.profile, login.hidden
        sock.data[TOKEN] = login.token_hash
        sock.data[PEERS] = login.visible
        # Recovery: a session (pid) is only restored for the user it was opened for.
        sock.owner = login.user.id

    async def on_connected(self, sock: Socket) -> None:
        me = profile(sock)
        sock.join(user_room(me.id))
        # Logout closes the sockets of its token through this room (SEC-24).
        mine = token_room(sock.data[TOKEN])
        if sock.recovered:
            # The restored rooms hold the token of the previous connection; the client
            # may have reconnected with a refreshed one.
            for room in sock.rooms:
                if room != mine and room.startswith(TOKEN_ROOM_PREFIX):
                    sock.leave(room)
        sock.join(mine)
        try:
            await self._announce(sock, me)
        except Exception as exc:
            if self._ctx.dependencies.refuse(exc) is None:
                log.exception("connect sequence failed for a socket; continuing")
        # Mandatory: the web client only considers itself online after this.
        sock.emit("socket:ready", {"userId": me.id})

    async def _announce(self, sock: Socket, me: SenderProfile) -> None:
        presence = self._ctx.services.presence
        hidden = sock.data[HIDDEN]
        # C(u) − P(u) as read by the handshake, a moment ago.
        visible: list[str] = sock.data.pop(PEERS)
        # The connect writes and the peers' records: one store round trip.
        records = await presence.connect(me.id, hidden, visible)
        if not hidden:
            self._ctx.services.bus.to_users(
                visible,
                "user:status",
                {
                    "userId": me.id,
                    "username": me.username,
                    "status": "online",
                    "timestamp": iso_ms(utcnow()),
                },
            )
        sock.emit(
            "presence:update",
            {
                "status": "online",
                "onlineUsers": [
                    {"userId": uid, "status": rec["status"]}
                    for uid, rec in records.items()
                    if not rec["hidden"]
                ],
            },
        )

    async def on_disconnect(self, sock: Socket, reason: str) -> None:
        me: SenderProfile | None = sock.data.get(PROFILE)
        if me is None:
            return
        try:
            await self._leave(me, sock)
        except Exception as exc:
            if self._ctx.dependencies.refuse(exc) is None:
                raise  # the realtime layer logs it

    async def _leave(self, me: SenderProfile, sock: Socket) -> None:
        last, record = await self._ctx.services.presence.disconnect(me.id)
        if not last:
            return  # other tabs or devices are still connected
        hidden = record["hidden"] if record is not None else bool(sock.data.get(HIDDEN))
        # last_seen stored and live calls ended before the broadcast, so whoever reacts
        # to it reads the new values; one statement for the disconnects running meanwhile.
        logout = await self._ctx.services.auth.socket_logout(me.id)
        self._ctx.services.calls.ended_by_disconnect(me.id, logout.calls)
        if not hidden:
            self._ctx.services.bus.to_users(
                logout.visible,
                "user:status",
                {
                    "userId": me.id,
                    "username": me.username,
                    "status": "offline",
                    "lastSeen": iso_ms(logout.last_seen),
                },
            )
