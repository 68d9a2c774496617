"""Presence, typing and audio-status events (events.md §6.2)."""

from __future__ import annotations

from typing import Any

from chatr_server.chat.context import HIDDEN, ChatContext, group_room, profile, user_room
from chatr_server.chat.guard import event
from chatr_server.realtime import Namespace, Socket
from chatr_server.services.message_input import InvalidPayload, opt_uuid
from chatr_server.util.ids import parse_uuid
from chatr_server.util.timefmt import iso_ms, utcnow

# presence:request answers at most this many ids (the client asks for its chat list).
MAX_PRESENCE_IDS = 500
# ghost:typing carries the draft text itself; drafts longer than a message are refused.
MAX_GHOST_TEXT = 20_000
OFFLINE_UNKNOWN = {"status": "offline", "lastSeen": None, "hidden": True}


class PresenceHandlers:
    def __init__(self, ctx: ChatContext) -> None:
        self._ctx = ctx

    def register(self, ns: Namespace) -> None:
        ns.on("presence:update", self.update)
        ns.on("presence:request", self.request)
        ns.on("typing:start", self.typing_start)
        ns.on("typing:stop", self.typing_stop)
        ns.on("audio:recording", self.recording)
        ns.on("audio:listening", self.listening)
        ns.on("audio:listened", self.listened)
        ns.on("profile:imageUpdated", self.image_updated)
        ns.on("settings:update", self.settings_update)
        ns.on("ghost:typing", self.ghost_typing)
        ns.on("friend:notify", self.friend_notify)

    @event("Failed to update presence")
    async def update(self, sock: Socket, status: Any = None, *_: Any) -> None:
        if status not in ("online", "away", "offline"):
            raise InvalidPayload()
        me = profile(sock)
        record = await self._ctx.services.presence.set_status(me.id, status)
        if record is None or record["hidden"]:
            return
        peers = await self._ctx.visible_peers(me.id)
        self._ctx.services.bus.to_users(
            peers,
            "user:status",
            {
                "userId": me.id,
                "username": me.username,
                "status": status,
                "timestamp": iso_ms(utcnow()),
            },
        )

    @event("Failed to load presence")
    async def request(self, sock: Socket, ids: Any = None, *_: Any) -> None:
        if not isinstance(ids, list) or len(ids) > MAX_PRESENCE_IDS:
            raise InvalidPayload()
        me = profile(sock)
        everyone, pending_out = await self._ctx.connected(me.id)
        visible = [i for i in ids if isinstance(i, str) and i in everyone and i not in pending_out]
        records = await self._ctx.services.presence.records(visible)
        stored = {}
        missing = [parse_uuid(i) for i in visible if i not in records]
        if missing:
            messaging = self._ctx.services.messaging
            for row in await messaging.last_seen_many([m for m in missing if m]):
                stored[str(row["id"])] = row
        reply = []
        for uid in ids:
            if not isinstance(uid, str) or uid not in visible:
                reply.append({"userId": uid, **OFFLINE_UNKNOWN})
                continue
            rec = records.get(uid)
            if rec is not None:
                hidden = rec["hidden"]
                reply.append(
                    {
                        "userId": uid,
                        "status": "offline" if hidden else rec["status"],
                        # SEC-13: a hidden user's last-seen time is not revealed.
                        "lastSeen": None if hidden else rec["lastSeen"],
                        "hidden": hidden,
                    }
                )
                continue
            row = stored.get(uid)
            hidden = row is not None and row["privacy_online_status"] == "nobody"
            last_seen = None if row is None or hidden else iso_ms(row["last_seen"])
            reply.append(
                {"userId": uid, "status": "offline", "lastSeen": last_seen, "hidden": hidden}
            )
        sock.emit("presence:response", reply)

    async def _typing(self, sock: Socket, data: Any, typing: bool) -> None:
        if not isinstance(data, dict):
            raise InvalidPayload()
        me = profile(sock)
        if data.get("groupId") is not None and data.get("recipientId") is None:
            group_id = opt_uuid(data, "groupId")
            room = group_room(group_id)
            if room not in sock.rooms:
                return  # only sockets that joined the legacy room may signal in it
            sock.namespace.emit(
                "typing:status",
                {
                    "userId": me.id,
                    "username": me.username,
                    "groupId": str(group_id),
                    "isTyping": typing,
                    "type": "group",
                },
                to=room,
                skip_sid=sock.id,
            )
            return
        recipient = opt_uuid(data, "recipientId")
        if recipient is None:
            raise InvalidPayload()
        pending, initiator, blocked = await self._ctx.services.messaging.pair_state(
            me.id, recipient
        )
        if blocked or (pending and initiator == me.id):
            return
        self._ctx.services.bus.to_user(
            str(recipient),
            "typing:status",
            {"userId": me.id, "username": me.username, "isTyping": typing, "type": "direct"},
        )

    @event("Failed to send typing status")
    async def typing_start(self, sock: Socket, data: Any = None, *_: Any) -> None:
        await self._typing(sock, data, True)

    @event("Failed to send typing status")
    async def typing_stop(self, sock: Socket, data: Any = None, *_: Any) -> None:
        await self._typing(sock, data, False)

    async def _relay_to_partner(
        self, sock: Socket, data: dict[str, Any], event_name: str, fields: dict[str, Any]
    ) -> None:
        """Relay a status to ``recipientId`` unless the pair is a pending request or blocked."""
        recipient = opt_uuid(data, "recipientId")
        if recipient is None:
            raise InvalidPayload()
        me = profile(sock)
        pending, _initiator, blocked = await self._ctx.services.messaging.pair_state(
            me.id, recipient
        )
        if pending or blocked:
            return
        self._ctx.services.bus.to_user(
            str(recipient), event_name, {"userId": me.id, "username": me.username, **fields}
        )

    @event("Failed to send recording status")
    async def recording(self, sock: Socket, data: Any = None, *_: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("isRecording"), bool):
            raise InvalidPayload()
        await self._relay_to_partner(
            sock, data, "audio:recording", {"isRecording": data["isRecording"]}
        )

    async def _listening(self, sock: Socket, data: Any, ended: bool | None) -> None:
        if not isinstance(data, dict):
            raise InvalidPayload()
        message_id = opt_uuid(data, "messageId")
        sender_id = opt_uuid(data, "senderId")
        if message_id is None or sender_id is None:
            raise InvalidPayload()
        me = profile(sock)
        messaging = self._ctx.services.messaging
        # Only the recipient of that message may report listening to its sender.
        if await messaging.sender_of_received(me.id, message_id) != str(sender_id):
            return
        payload: dict[str, Any] = {
            "userId": me.id,
            "username": me.username,
            "messageId": str(message_id),
        }
        for key in ("isListening", "isEnded"):
            if isinstance(data.get(key), bool):
                payload[key] = data[key]
        if ended is not None:
            payload["isEnded"] = ended
        self._ctx.services.bus.to_user(str(sender_id), "audio:listening", payload)
        if payload.get("isEnded") is True:
            await messaging.mark_read(me.id, message_id)

    @event("Failed to send listening status")
    async def listening(self, sock: Socket, data: Any = None, *_: Any) -> None:
        await self._listening(sock, data, None)

    @event("Failed to send listening status")
    async def listened(self, sock: Socket, data: Any = None, *_: Any) -> None:
        # The web client's "played to the end" event: the voice note's read receipt.
        await self._listening(sock, data, True)

    @event("Failed to update profile image")
    async def image_updated(self, sock: Socket, data: Any = None, *_: Any) -> None:
        # The client's claim is only a hint: re-read the stored image.
        me = profile(sock)
        found = await self._ctx.services.messaging.connection_profile(me.id)
        if found is not None:
            me.profile_image = found[0].profile_image
            me.display_name = found[0].display_name

    @event("Failed to update settings")
    async def settings_update(self, sock: Socket, data: Any = None, *_: Any) -> None:
        if not isinstance(data, dict):
            raise InvalidPayload()
        level = data.get("privacyOnlineStatus")
        if level not in ("everyone", "friends", "nobody"):
            return  # other values are ignored, as in the original
        me = profile(sock)
        hidden = level == "nobody"
        services = self._ctx.services
        await services.social.update_privacy(me.id, {"privacyOnlineStatus": level})
        record = await self._ctx.services.presence.set_hidden(me.id, hidden)
        for sid in sock.namespace.sockets_in(user_room(me.id)):
            other = sock.namespace.get_socket(sid)
            if other is not None:
                other.data[HIDDEN] = hidden
        now = iso_ms(utcnow())
        status = "offline" if hidden else ((record or {}).get("status") or "online")
        services.bus.to_users(
            await self._ctx.visible_peers(me.id),
            "user:status",
            {
                "userId": me.id,
                "username": me.username,
                "status": status,
                "hidden": hidden,
                "lastSeen": now if hidden else None,
                "timestamp": now,
            },
        )

    @event("Failed to send typing preview")
    async def ghost_typing(self, sock: Socket, data: Any = None, *_: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            raise InvalidPayload()
        if len(data["text"]) > MAX_GHOST_TEXT:
            raise InvalidPayload()
        await self._relay_to_partner(
            sock, data, "ghost:typing", {"text": data["text"], "type": "direct"}
        )

    @event("Failed to send friend notification")
    async def friend_notify(self, sock: Socket, data: Any = None, *_: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise InvalidPayload()
        addressee = opt_uuid(data, "addresseeId")
        if addressee is None:
            raise InvalidPayload()
        me = profile(sock)
        social = self._ctx.services.social
        friendship_id = data.get("friendshipId")
        # Relay only a change that really happened (the original relayed anything).
        if not await social.verify_friend_notify(
            me.id, data["type"], str(addressee), friendship_id
        ):
            return
        sender = await social.friend_update_from(self._ctx.services.pool, me.id)
        if sender is None:
            return
        payload: dict[str, Any] = {"type": data["type"]}
        if friendship_id is not None:
            payload["friendshipId"] = friendship_id
        payload["from"] = sender
        self._ctx.services.bus.to_users([str(addressee), me.id], "friend:update", payload)


__all__ = ["PresenceHandlers", "user_room"]
