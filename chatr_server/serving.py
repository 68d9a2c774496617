"""``serve``'s process lifecycle: bind, start, announce, drain on SIGTERM/SIGINT, exit.

Why not ``web.run_app``: on a signal it stops listening at once and closes every
Socket.IO session before the handlers of the events those sessions already sent have
answered, so a message could be stored while its ``message:sent`` never reached a
sender that was still connected. Here a signal starts a drain instead:

1. readiness (``/api/health/ready``) answers 503 at once; everything else is still
   served for ``SHUTDOWN_GRACE_SECONDS``, long enough for a load balancer to notice;
   a second signal ends the grace early;
2. the public port closes (no new connections; the internal listener stays open so
   other nodes can still forward polling requests of this node's sessions);
3. the Socket.IO server drains: each socket finishes the events it received and its
   answers are written, then its connection closes so the client reconnects to
   another node (``SocketServer.shutdown``);
4. in-flight HTTP requests finish, resources close, and the process exits 0, all
   within ``SHUTDOWN_TIMEOUT_SECONDS`` (counted from the signal), else exit 1.

Start-up failures (port in use, database unreachable or not migrated, bad settings)
end as one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import sys
from typing import NoReturn

from aiohttp import web

from chatr_server.appkeys import SERVICES
from chatr_server.db.embedded import EmbeddedPostgresError
from chatr_server.db.migrate import MigrationError
from chatr_server.lifecycle import LIFECYCLE, StartupError
from chatr_server.settings import ConfigError, Settings

log = logging.getLogger("chatr_server")

# Exit status of a failed start (configuration errors exit 2, see cli.py).
STARTUP_FAILED = 1


def report(message: str) -> int:
    """Say why the start failed, in one line on stderr; returns the exit status."""
    print(f"chatr_server: {message}", file=sys.stderr, flush=True)
    return STARTUP_FAILED


def fail(message: str, status: int = STARTUP_FAILED) -> NoReturn:
    """End the process with one line on stderr (outside the event loop)."""
    report(message)
    raise SystemExit(status)


def describe_failure(exc: BaseException) -> str:
    """One line for a start-up exception (its type only when its text says nothing)."""
    if isinstance(exc, StartupError | ConfigError):
        return str(exc)
    if isinstance(exc, MigrationError):
        return f"migration error: {exc}"
    if isinstance(exc, EmbeddedPostgresError):
        return f"database error: {exc}"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"start-up failed: {type(exc).__name__}{': ' + text if text else ''}"


def bind_public(host: str, port: int, reuse_port: bool) -> socket.socket:
    """The public listening socket, bound before start-up so "port in use" fails fast."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        fail(f"cannot listen on {host}:{port}: {reason or exc}")
    sock.setblocking(False)
    return sock


def listening_line(settings: Settings, worker: str | None) -> str:
    """The INFO line that says the server is up, where, and in which mode."""
    host = settings.host
    if host in ("", "0.0.0.0", "::"):
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    url = f"http://{host}:{settings.port}"
    docs_off = settings.production and not (settings.swagger_user and settings.swagger_pass)
    docs = "API docs off (production without SWAGGER_USER)" if docs_off else f"docs {url}/api/docs"
    mode = [
        "production" if settings.production else "development",
        "external PostgreSQL" if settings.database_url else "embedded PostgreSQL",
        "Redis" if settings.redis_url else "in-process presence (no Redis)",
    ]
    who = f" (worker {worker})" if worker is not None else ""
    return f"chatr_server listening on {url}{who}; {docs}; {', '.join(mode)}"


def run(
    app: web.Application,
    settings: Settings,
    loop: asyncio.AbstractEventLoop,
    internal: socket.socket | None = None,
    worker: str | None = None,
) -> int:
    """Serve ``app`` until a signal and a drain; returns the exit status."""
    listener = bind_public(settings.host, settings.port, reuse_port=settings.workers > 1)
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(_serve(app, settings, listener, internal, worker))
    finally:
        _cancel_leftovers(loop)
        loop.close()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())


async def _serve(
    app: web.Application,
    settings: Settings,
    listener: socket.socket,
    internal: socket.socket | None,
    worker: str | None,
) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    hurry = asyncio.Event()

    def on_signal(signum: int) -> None:
        if not stop.is_set():
            stop.set()
        elif not hurry.is_set():
            log.info("second %s: ending the grace period", signal.Signals(signum).name)
            hurry.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None if settings.production else logging.getLogger("aiohttp.access"),
        shutdown_timeout=settings.shutdown_timeout_seconds,
    )
    try:
        await runner.setup()
    except Exception as exc:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(settings.shutdown_timeout_seconds):
                await runner.cleanup()
        return report(describe_failure(exc))
    public = web.SockSite(runner, listener, backlog=settings.listen_backlog)
    try:
        await public.start()
        if internal is not None:
            await web.SockSite(runner, internal).start()
    except OSError as exc:
        await runner.cleanup()
        return report(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}")
    log.info(listening_line(settings, worker))
    await stop.wait()
    return await _drain(app, runner, public, settings, hurry)


async def _drain(
    app: web.Application,
    runner: web.AppRunner,
    public: web.SockSite,
    settings: Settings,
    hurry: asyncio.Event,
) -> int:
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + settings.shutdown_timeout_seconds
    app[LIFECYCLE].begin_drain()
    grace = settings.shutdown_grace_seconds
    log.info("draining: readiness answers 503; new connections accepted for %.1f s more", grace)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(hurry.wait(), grace)
    try:
        async with asyncio.timeout(max(0.0, deadline - loop.time())):
            await public.stop()
            services = app.get(SERVICES)
            if services is not None:
                # Leave a little of the budget for HTTP requests and closing resources.
                left = deadline - loop.time()
                await services.sockets.shutdown(max(0.0, left - min(2.0, left * 0.2)))
            await runner.cleanup()
    except TimeoutError:
        log.error(
            "shutdown did not finish within SHUTDOWN_TIMEOUT_SECONDS=%s; exiting anyway",
            settings.shutdown_timeout_seconds,
        )
        return 1
    log.info("drained in %.1f s; exiting", loop.time() - started)
    return 0
