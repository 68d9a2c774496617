"""Server for the official Engine.IO / Socket.IO protocol test suites.

``/engine.io/`` echoes every message (text and binary) with the raw Engine.IO layer;
``/socket.io/`` is the app the socket.io-protocol suite expects: namespaces ``/`` and
``/custom``, an ``auth`` echo on connect, ``message`` → ``message-back`` and
``message-with-ack`` acknowledged with its own arguments.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from aiohttp import web

from .engine import EngineServer, EngineSession
from .server import Socket, SocketServer

# Values hard-coded in both suites (PING_INTERVAL / PING_TIMEOUT and maxPayload checks).
SUITE_PING_INTERVAL = 0.3
SUITE_PING_TIMEOUT = 0.2
SUITE_MAX_PAYLOAD = 1_000_000
# The socket.io suite reads the CONNECT reply and the "auth" event with two successive
# one-shot listeners; ws 8.5 emits every frame of one TCP read synchronously, so frames
# arriving together lose the second one. A 10 ms gap keeps them in separate reads even
# when the test process is momentarily busy (2 ms still failed about one run in five).
SUITE_CONNECT_REPLY_GAP = 0.01


def _echo(session: EngineSession, data: str | bytes) -> None:
    session.send(data)


def build_app() -> web.Application:
    """Build the aiohttp application served by the conformance entry point."""
    app = web.Application()
    engine = EngineServer(
        ping_interval=SUITE_PING_INTERVAL,
        ping_timeout=SUITE_PING_TIMEOUT,
        max_payload=SUITE_MAX_PAYLOAD,
        on_message=_echo,
    )
    engine.attach(app, "/engine.io/")

    sio = SocketServer(
        ping_interval=SUITE_PING_INTERVAL,
        ping_timeout=SUITE_PING_TIMEOUT,
        max_payload=SUITE_MAX_PAYLOAD,
        connect_reply_gap=SUITE_CONNECT_REPLY_GAP,
    )
    for name in ("/", "/custom"):
        ns = sio.of(name)

        @ns.on_connected
        def connected(sock: Socket) -> None:
            auth = sock.data.pop("auth", None)
            sock.emit("auth", auth if auth is not None else {})

        @ns.on_connect
        def connect(sock: Socket, auth: Any) -> None:
            sock.data["auth"] = auth

        @ns.on("message")
        def message(sock: Socket, *args: Any) -> None:
            sock.emit("message-back", *args)

        @ns.on("message-with-ack")
        def message_with_ack(sock: Socket, *args: Any) -> tuple[Any, ...]:
            return args

    sio.attach(app, "/socket.io/")
    app["sio"] = sio
    return app


def main(argv: list[str] | None = None) -> None:
    """Run the conformance server until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    web.run_app(build_app(), host=args.host, port=args.port, print=print)


if __name__ == "__main__":
    main()
