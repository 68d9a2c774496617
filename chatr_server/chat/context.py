"""Per-connection state and access to the services from a socket handler."""

from __future__ import annotations

from aiohttp import web

from chatr_server.appkeys import DEPENDENCIES, SERVICES
from chatr_server.container import Services
from chatr_server.realtime import Socket
from chatr_server.services.dependencies import DependencyMonitor
from chatr_server.services.messaging import SenderProfile

PROFILE = "profile"
HIDDEN = "hidden"
TOKEN = "token_hash"
#: C(u) − P(u) read by the handshake, for the connect sequence (then dropped).
PEERS = "peers"


class ChatContext:
    """What every chat handler needs: the app's services and the live presence."""

    def __init__(self, app: web.Application) -> None:
        self._app = app

    @property
    def services(self) -> Services:
        return self._app[SERVICES]

    @property
    def dependencies(self) -> DependencyMonitor:
        return self._app[DEPENDENCIES]

    async def connected(self, user_id: str) -> tuple[set[str], set[str]]:
        """C(u) and P(u) (behaviors.md §3)."""
        services = self.services
        return await services.social.connected_and_pending(services.pool, user_id)

    async def visible_peers(self, user_id: str) -> list[str]:
        """C(u) − P(u): who sees this user's live status."""
        services = self.services
        return await services.social.visible_peers(services.pool, user_id)


def profile(sock: Socket) -> SenderProfile:
    return sock.data[PROFILE]


def user_room(user_id: str) -> str:
    return f"user:{user_id}"


def group_room(group_id: object) -> str:
    """The legacy room of ``group:join`` / ``group:message:send`` (events.md §4)."""
    return f"group:{group_id}"


TOKEN_ROOM_PREFIX = "token:"


def token_room(token_hash: str) -> str:
    """Every socket that authenticated with one token, so logout can close them."""
    return f"{TOKEN_ROOM_PREFIX}{token_hash}"
