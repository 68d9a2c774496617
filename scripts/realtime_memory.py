"""Measure the server's resident memory per idle Socket.IO connection.

    python scripts/realtime_memory.py [--connections 1000] [--uvloop] [--redis-url URL]

Spawns a minimal SocketServer app in its own process, opens N connections from a
separate client process (Engine.IO handshake + Socket.IO CONNECT to "/", answering pings),
and reads VmRSS from /proc/<server pid>/status before and after. A warm-up round (connect
and drop 100 clients) runs first so one-time allocations (imports, code paths, allocator
arenas) are not charged to the measured connections. Target: at most 15 KiB per
connection, at 10,000 connections (``--limit-kib``).

``--redis-url`` runs the server as one node of a cluster: the Redis adapter (fan-out) and
the session router (sid tags, node advertisement), as ``serve`` does with ``REDIS_URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

# Seconds to let the server settle before reading VmRSS (buffers freed, tasks finished).
SETTLE_SECONDS = 1.0
WARMUP_CONNECTIONS = 100


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("VmRSS not found")


# ----------------------------------------------------------------------------- server


def serve(port: int, use_uvloop: bool, redis_url: str | None = None) -> None:
    import secrets
    from collections.abc import AsyncIterator

    from aiohttp import web

    from chatr_server.realtime import Socket, SocketServer
    from chatr_server.realtime.cluster import NodeRouter
    from chatr_server.realtime.redis_adapter import RedisBroker

    _raise_fd_limit()
    app = web.Application()
    broker = router = None
    if redis_url:
        broker = RedisBroker(redis_url, f"chatr-memory-{secrets.token_hex(4)}:")
        router = NodeRouter(broker, f"http://127.0.0.1:{port}")

        async def cluster(app: web.Application) -> AsyncIterator[None]:
            assert broker is not None and router is not None
            await broker.start()
            await router.start()
            yield
            await router.close()
            await broker.close()

        app.cleanup_ctx.append(cluster)
    # Production defaults: 25 s ping interval, 20 s timeout.
    sio = SocketServer(adapter=broker.adapter if broker else None, router=router)
    ns = sio.of("/")

    @ns.on("echo")
    def echo(sock: Socket, *args: object) -> tuple[object, ...]:
        return args

    sio.attach(app)
    if use_uvloop:
        import uvloop

        uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, print=lambda *a: print("READY", flush=True))


# ----------------------------------------------------------------------------- clients


async def _open_client(http: object, url: str, transport: str) -> object:
    import aiohttp

    assert isinstance(http, aiohttp.ClientSession)
    ws = await http.ws_connect(f"{url}/socket.io/?EIO=4&transport={transport}", autoping=True)
    opened = await ws.receive_str()
    assert opened.startswith("0"), opened
    await ws.send_str("40")
    reply = await ws.receive_str()
    assert reply.startswith("40"), reply
    return ws


async def _keepalive(ws: object) -> None:
    import aiohttp

    assert isinstance(ws, aiohttp.ClientWebSocketResponse)
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT and msg.data == "2":
            await ws.send_str("3")


async def run_clients(url: str, count: int) -> None:
    import aiohttp

    _raise_fd_limit()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        sockets = []
        for start in range(0, count, 100):
            batch = [_open_client(http, url, "websocket") for _ in range(min(100, count - start))]
            sockets.extend(await asyncio.gather(*batch))
        tasks = [asyncio.ensure_future(_keepalive(ws)) for ws in sockets]
        print("READY", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        for ws in sockets:
            await ws.close()  # type: ignore[attr-defined]
        for task in tasks:
            task.cancel()


# ----------------------------------------------------------------------------- driver


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spawn(args: list[str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, __file__, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "READY" not in line:
        proc.kill()
        raise RuntimeError(f"child {args} failed to start: {line!r}")
    return proc


def _finish(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=30)


def measure(connections: int, use_uvloop: bool, redis_url: str | None = None) -> float:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    options = ["--uvloop"] if use_uvloop else []
    if redis_url:
        options += ["--redis-url", redis_url]
    server = _spawn(["--serve", "--port", str(port), *options])
    try:
        warmup = _spawn(["--clients", str(WARMUP_CONNECTIONS), "--url", url])
        _finish(warmup)
        time.sleep(SETTLE_SECONDS)
        before = _rss_kib(server.pid)
        clients = _spawn(["--clients", str(connections), "--url", url])
        time.sleep(SETTLE_SECONDS)
        after = _rss_kib(server.pid)
        _finish(clients)
    finally:
        server.terminate()
        server.wait(timeout=30)
    per_connection = (after - before) / connections
    loop_name = "uvloop" if use_uvloop else "asyncio"
    if redis_url:
        loop_name += ", Redis adapter + router"
    print(
        f"{connections} idle Socket.IO websocket connections ({loop_name}): "
        f"VmRSS {before} KiB -> {after} KiB, {per_connection:.1f} KiB per connection"
    )
    return per_connection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--limit-kib", type=float, default=15.0)
    parser.add_argument("--redis-url", help="run the server with the Redis adapter and router")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--clients", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.port, args.uvloop, args.redis_url)
    elif args.clients is not None:
        asyncio.run(run_clients(args.url, args.clients))
    else:
        per_connection = measure(args.connections, args.uvloop, args.redis_url)
        if per_connection > args.limit_kib:
            print(f"FAIL: above the {args.limit_kib} KiB target")
            sys.exit(1)
        print(f"OK: within the {args.limit_kib} KiB target")


if __name__ == "__main__":
    main()
