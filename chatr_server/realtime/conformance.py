"""Server for the official Engine.IO / Socket.IO protocol test suites.

``/engine.io/`` echoes every message (text and binary) with the raw Engine.IO layer;
``/socket.io/`` is the app the socket.io-protocol suite expects: namespaces ``/`` and
``/custom``, an ``auth`` echo on connect, ``message`` → ``message-back`` and
``message-with-ack`` acknowledged with its own arguments.

``--workers N`` (with Redis) runs N processes on one port exactly like
``serve --workers N``: Redis fan-out, session ids tagged with their owner, polling
requests and websocket upgrades forwarded to the owning process (docs/scaling.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from .cluster import NodeRouter
from .engine import EngineServer, EngineSession
from .redis_adapter import RedisBroker
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


def build_app(
    redis_url: str | None = None,
    redis_prefix: str = "",
    node_url: str | None = None,
    handoff_dir: str | None = None,
) -> web.Application:
    """Build the aiohttp application served by the conformance entry point.

    With ``redis_url`` the Socket.IO app uses the Redis adapter, and with ``node_url`` as
    well both endpoints route sessions owned by other processes there.
    """
    app = web.Application()
    # REDIS_CLUSTER=1: redis_url names a node of a Redis Cluster (as for `serve`).
    cluster = os.environ.get("REDIS_CLUSTER", "").lower() in ("1", "true", "yes", "on")
    broker = RedisBroker(redis_url, redis_prefix, cluster=cluster) if redis_url else None
    router = NodeRouter(broker, node_url, handoff_dir) if broker is not None and node_url else None
    engine = EngineServer(
        ping_interval=SUITE_PING_INTERVAL,
        ping_timeout=SUITE_PING_TIMEOUT,
        max_payload=SUITE_MAX_PAYLOAD,
        on_message=_echo,
        router=router,
    )
    engine.attach(app, "/engine.io/")

    sio = SocketServer(
        ping_interval=SUITE_PING_INTERVAL,
        ping_timeout=SUITE_PING_TIMEOUT,
        max_payload=SUITE_MAX_PAYLOAD,
        connect_reply_gap=SUITE_CONNECT_REPLY_GAP,
        adapter=broker.adapter if broker is not None else None,
        router=router,
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
    if broker is not None:

        async def cluster(app: web.Application) -> AsyncIterator[None]:
            await broker.start()
            if router is not None:
                await router.start()
            yield
            if router is not None:
                await router.close()
            await broker.close()

        app.cleanup_ctx.append(cluster)
    return app


def main(argv: list[str] | None = None) -> None:
    """Run the conformance server until interrupted."""
    from chatr_server.workers import (
        HANDOFF_DIR_ENV,
        WORKER_INDEX_ENV,
        bind_internal,
        internal_url,
        supervise,
    )

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    parser.add_argument("--redis-prefix", help="default: a fresh one per run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    worker = os.environ.get(WORKER_INDEX_ENV)
    if args.workers > 1 and not args.redis_url:
        parser.error("--workers > 1 needs --redis-url (or REDIS_URL)")
    prefix = args.redis_prefix or f"chatr-conformance-{secrets.token_hex(4)}:"
    if args.workers > 1 and worker is None:
        child = ["-m", "chatr_server.realtime.conformance", "--host", args.host]
        child += ["--port", str(args.port), "--log-level", args.log_level]
        child += ["--workers", str(args.workers), "--redis-url", args.redis_url]
        child += ["--redis-prefix", prefix]
        import redis

        probe = redis.Redis.from_url(args.redis_url)

        def ready() -> bool:
            advertised = probe.keys(f"{prefix}eio-node:*")
            return len(advertised) >= args.workers

        def announce() -> None:
            url = f"http://{args.host}:{args.port}"
            print(f"======== Running on {url} ({args.workers} workers) ========", flush=True)

        raise SystemExit(supervise(lambda _index: child, args.workers, ready, announce))
    internal = None
    node_url = None
    if args.redis_url:
        internal = bind_internal("127.0.0.1", 0)
        node_url = internal_url(internal)
    web.run_app(
        build_app(args.redis_url, prefix, node_url, os.environ.get(HANDOFF_DIR_ENV)),
        host=args.host,
        port=args.port,
        sock=internal,
        reuse_port=args.workers > 1 or None,
        print=print if worker is None else None,
    )


if __name__ == "__main__":
    main()
