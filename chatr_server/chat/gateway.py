"""Wire the chat features onto a :class:`SocketServer` attached to the app."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from chatr_server.appkeys import DEPENDENCIES, METRICS, SERVICES, SETTINGS
from chatr_server.chat.bus import RealtimeBus
from chatr_server.chat.calls import CallHandlers
from chatr_server.chat.connection import ConnectionHandlers
from chatr_server.chat.context import ChatContext
from chatr_server.chat.groups import GroupHandlers
from chatr_server.chat.guests import GuestGate
from chatr_server.chat.messages import MessageHandlers
from chatr_server.chat.presence import PresenceHandlers
from chatr_server.chat.rpc import RpcHandlers
from chatr_server.realtime import SocketServer
from chatr_server.realtime.cluster import NodeRouter
from chatr_server.realtime.redis_adapter import RedisBroker
from chatr_server.repos.calls import CallsRepo
from chatr_server.repos.message_actions import MessageActionsRepo
from chatr_server.repos.messaging import MessagingRepo
from chatr_server.services.calls import CallService
from chatr_server.services.dependencies import REDIS
from chatr_server.services.message_actions import MessageActionsService
from chatr_server.services.messaging import MessagingService
from chatr_server.services.presence import PresenceService

SOCKET_SERVER = web.AppKey("socket_server", SocketServer)
REDIS_BROKER = web.AppKey("redis_broker", RedisBroker)
NODE_ROUTER = web.AppKey("node_router", NodeRouter)


def setup_chat(app: web.Application) -> SocketServer:
    """Attach the Socket.IO endpoint at ``/socket.io/`` and register every chat event."""
    settings = app[SETTINGS]
    # With Redis, every broadcast (emits to user:<id>, group rooms) also reaches the
    # sockets of the other processes and nodes (contract events.md §1 "Scale-out").
    broker = RedisBroker(settings.redis_url, settings.redis_prefix) if settings.redis_url else None
    # With a node address (set by `serve`), polling requests that reach the wrong process
    # are forwarded to the session's owner (docs/scaling.md).
    router = (
        NodeRouter(broker, settings.node_url, settings.node_handoff_dir)
        if broker and settings.node_url
        else None
    )
    sio = SocketServer(
        ping_interval=settings.socket_ping_interval,
        ping_timeout=settings.socket_ping_timeout,
        max_payload=settings.socket_max_payload,
        adapter=broker.adapter if broker is not None else None,
        router=router,
    )
    sio.attach(app, "/socket.io/")
    app[SOCKET_SERVER] = sio
    ns = sio.of("/")
    ctx = ChatContext(app)
    metrics = app[METRICS]
    ConnectionHandlers(ctx).register(ns)
    MessageHandlers(ctx, metrics).register(ns)
    PresenceHandlers(ctx).register(ns)
    GroupHandlers(ctx, metrics).register(ns)
    CallHandlers(ctx).register(ns)
    RpcHandlers(ctx).register(ns)
    # Last: it wraps every handler registered above (SEC-23).
    GuestGate(ctx).install(ns)
    if broker is not None:
        app[REDIS_BROKER] = broker
        if router is not None:
            app[NODE_ROUTER] = router
        app.cleanup_ctx.append(_redis_fanout)
    app.cleanup_ctx.append(_live_services)
    return sio


async def _redis_fanout(app: web.Application) -> AsyncIterator[None]:
    broker = app[REDIS_BROKER]
    router = app.get(NODE_ROUTER)
    await broker.start()
    if router is not None:
        await router.start()
    try:
        yield
    finally:
        if router is not None:
            await router.close()
        await broker.close()


async def _live_services(app: web.Application) -> AsyncIterator[None]:
    """Presence and the realtime bus, once the core services exist."""
    services = app[SERVICES]
    ns = app[SOCKET_SERVER].of("/")
    presence = PresenceService(services.store)
    await presence.start()
    app[DEPENDENCIES].on_recovery(REDIS, presence.resync)
    repo = MessagingRepo(services.queries)
    bus = RealtimeBus(ns, presence)
    services.bus = bus
    services.extra["presence"] = presence
    services.extra["messaging_repo"] = repo
    settings = services.settings
    services.extra["messaging"] = MessagingService(
        services.pool,
        repo,
        presence,
        bus,
        services.attachments,
        write_window=settings.group_commit_window_ms / 1000,
        max_pending_writes=settings.max_pending_writes,
        metrics=app[METRICS],
    )
    services.extra["message_actions"] = MessageActionsService(
        services.pool, MessageActionsRepo(services.queries), bus
    )
    calls = CallService(services.pool, CallsRepo(services.queries), bus)
    services.extra["calls"] = calls
    try:
        yield
    finally:
        await calls.close()
        await services.extra["messaging"].close()
        await presence.stop()
