"""Home-grown Engine.IO v4 + Socket.IO v5 server on raw aiohttp.

No chat knowledge lives here: the chat layer registers handlers on namespaces.

    sio = SocketServer(ping_interval=25.0, ping_timeout=20.0, max_payload=1_000_000)
    sio.attach(app, path="/socket.io/")
    ns = sio.of("/")

    @ns.on_connect
    async def connect(sock: Socket, auth: Any) -> None:
        if not valid(auth):
            raise ConnectionRefused("Authentication error: Invalid token")

    @ns.on("message:send")
    async def send(sock: Socket, payload: dict) -> dict:
        ...  # handlers of one socket run one at a time, in arrival order
        return {"ok": True}  # becomes the ack argument when the client asked for one

The Engine.IO layer (:class:`EngineServer`) is usable on its own.
"""

from .adapter import Adapter, AdapterFactory, InProcessAdapter
from .engine import EngineServer, EngineSession, Handshake
from .errors import ConnectionRefused, ProtocolError
from .server import Namespace, Socket, SocketServer

__all__ = [
    "Adapter",
    "AdapterFactory",
    "ConnectionRefused",
    "EngineServer",
    "EngineSession",
    "Handshake",
    "InProcessAdapter",
    "Namespace",
    "ProtocolError",
    "Socket",
    "SocketServer",
]
