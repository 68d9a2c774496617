"""The application factory: one function builds the whole server.

The CLI, the tests and the load scripts all call :func:`create_app`, so they
run exactly the same wiring. Resources (database pool, store, mail and SMS
clients), the realtime transport with the one event bus, and then the
services open in one cleanup context, in that order, into one typed
container (:class:`~chatr_server.container.Services`); they close in reverse
order on shutdown.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from urllib.parse import parse_qs, urlsplit

import asyncpg
from aiohttp import web

from chatr_server.api.handlers.health import OPENAPI_CACHE
from chatr_server.api.handlers.static import prepare_assets
from chatr_server.api.middleware import docs_auth, error_boundary, request_context
from chatr_server.api.routes import setup_routes
from chatr_server.appkeys import DEPENDENCIES, METRICS, SERVICES, SETTINGS
from chatr_server.chat.bus import RealtimeBus
from chatr_server.chat.context import ChatContext
from chatr_server.chat.gateway import register_chat
from chatr_server.container import Services
from chatr_server.db import migrate as migrations
from chatr_server.db.embedded import EmbeddedPostgres
from chatr_server.db.pool import create_pool
from chatr_server.db.queries import Queries
from chatr_server.integrations.mail import Mailer, create_mailer
from chatr_server.integrations.sms import SmsSender, create_sms_sender
from chatr_server.integrations.storage import Storage, create_storage
from chatr_server.integrations.templates import EmailTemplates
from chatr_server.lifecycle import LIFECYCLE, Lifecycle, StartupError
from chatr_server.metrics import Metrics, metrics_middleware, multiprocess_dir, refresh_forever
from chatr_server.realtime import SocketServer
from chatr_server.realtime.cluster import NodeRouter
from chatr_server.realtime.recovery import MemoryRecoveryStore, Recovery, RedisRecoveryStore
from chatr_server.realtime.redis_adapter import RedisBroker
from chatr_server.repos.admin import AdminRepo
from chatr_server.repos.attachments import AttachmentsRepo
from chatr_server.repos.calls import CallsRepo
from chatr_server.repos.codes import CodesRepo
from chatr_server.repos.contact import ContactRepo
from chatr_server.repos.conversations import ConversationsRepo
from chatr_server.repos.directory import DirectoryRepo
from chatr_server.repos.friendships import FriendshipsRepo
from chatr_server.repos.groups import GroupsRepo
from chatr_server.repos.message_actions import MessageActionsRepo
from chatr_server.repos.messages import MessagesRepo
from chatr_server.repos.messaging import MessagingRepo
from chatr_server.repos.testdata import TestDataRepo
from chatr_server.repos.users import UsersRepo
from chatr_server.repos.widget import WidgetRepo
from chatr_server.services.admin import AdminService
from chatr_server.services.attachments import Attachments
from chatr_server.services.auth import AuthService
from chatr_server.services.bus import EventBus
from chatr_server.services.calls import CallService
from chatr_server.services.codes import CodeService
from chatr_server.services.contact import ContactService
from chatr_server.services.conversations import ConversationService
from chatr_server.services.dependencies import (
    POSTGRES,
    REDIS,
    DependencyMonitor,
    probe_postgres,
)
from chatr_server.services.directory import DirectoryService
from chatr_server.services.group_roles import GroupRoleService
from chatr_server.services.group_uploads import GroupUploads
from chatr_server.services.groups import GroupService
from chatr_server.services.history import HistoryService
from chatr_server.services.linkpreview import LinkPreviewService
from chatr_server.services.message_actions import MessageActionsService
from chatr_server.services.messaging import MessagingService
from chatr_server.services.notify import Notifier
from chatr_server.services.passwords import PasswordHasher
from chatr_server.services.presence import PresenceService
from chatr_server.services.profile_events import ProfileEvents
from chatr_server.services.ratelimit import RateLimiter
from chatr_server.services.social import SocialService
from chatr_server.services.testdata import TestDataService
from chatr_server.services.testmode import TestMode
from chatr_server.services.tokens import TokenService
from chatr_server.services.twofactor import TwoFactorService
from chatr_server.services.uploads import UploadService
from chatr_server.services.users import UserService
from chatr_server.services.widget import WidgetService
from chatr_server.settings import Settings
from chatr_server.store import KeyValueStore, MemoryStore, RedisStore

log = logging.getLogger(__name__)

#: Wraps the one event bus before the services get it (the tests record every event).
BusWrapper = Callable[[EventBus], EventBus]

# Multipart uploads are bounded per route; this is the hard ceiling for any body.
MAX_REQUEST_BYTES = 26 * 1024 * 1024


async def resolve_database_url(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """``DATABASE_URL`` when given, else an embedded server under the data folder."""
    if settings.database_url:
        return settings.database_url, None
    embedded = EmbeddedPostgres(settings.data_dir)
    return await embedded.start(), embedded


def _where(dsn: str) -> str:
    """host:port/database of a DSN, without its credentials (for error messages)."""
    parts = urlsplit(dsn)
    host = parts.hostname or parse_qs(parts.query).get("host", ["local socket"])[0]
    return f"{host}:{parts.port or 5432}{parts.path or ''}"


def create_store(settings: Settings, monitor: DependencyMonitor | None = None) -> KeyValueStore:
    if settings.redis_url:
        return RedisStore(
            settings.redis_url, settings.redis_prefix, monitor, cluster=settings.redis_cluster
        )
    return MemoryStore()


def create_transport(
    settings: Settings,
) -> tuple[SocketServer, RedisBroker | None, NodeRouter | None]:
    """The Socket.IO server, and with Redis its cross-process fan-out (docs/scaling.md)."""
    # With Redis, every broadcast (emits to user:<id>, group rooms) also reaches the
    # sockets of the other processes and nodes (contract events.md §1 "Scale-out").
    broker = (
        RedisBroker(settings.redis_url, settings.redis_prefix, cluster=settings.redis_cluster)
        if settings.redis_url
        else None
    )
    # With a node address (set by `serve`), polling requests that reach the wrong process
    # are forwarded to the session's owner.
    router = (
        NodeRouter(broker, settings.node_url, settings.node_handoff_dir)
        if broker and settings.node_url
        else None
    )
    recovery = None
    if settings.connection_recovery:
        # Sessions and missed events in Redis when there is one, so a client can come
        # back to any node, also after its node died (docs/realtime.md, "Recovery").
        window = settings.recovery_window_s
        recovery = (
            Recovery(RedisRecoveryStore(broker, window), emitter=broker.node_id)
            if broker is not None
            else Recovery(MemoryRecoveryStore(window))
        )
    sockets = SocketServer(
        recovery=recovery,
        ping_interval=settings.socket_ping_interval,
        ping_timeout=settings.socket_ping_timeout,
        max_payload=settings.socket_max_payload,
        adapter=broker.adapter if broker is not None else None,
        router=router,
    )
    return sockets, broker, router


def create_app(settings: Settings, *, wrap_bus: BusWrapper | None = None) -> web.Application:
    """Build the aiohttp application for ``settings`` (resources open on startup).

    ``wrap_bus`` (tests) wraps the one event bus before any service is given it,
    so the wrapper sees every event of every service.
    """
    metrics = Metrics(multiprocess_dir())
    app = web.Application(
        # Metrics outermost: they see the status the client gets. Socket.IO requests
        # (long polls, websockets) are counted by the socket series instead.
        middlewares=[
            metrics_middleware(metrics, skip_prefixes=("/socket.io/",)),
            request_context,
            docs_auth,
            error_boundary,
        ],
        client_max_size=MAX_REQUEST_BYTES,
    )
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[DEPENDENCIES] = DependencyMonitor()
    app[LIFECYCLE] = Lifecycle()
    app[OPENAPI_CACHE] = {}
    sockets, broker, router = create_transport(settings)
    sockets.attach(app, "/socket.io/")
    # The handlers read app[SERVICES] per event: it exists once the app has started.
    register_chat(sockets.of("/"), ChatContext(app), metrics)

    async def run(app: web.Application) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            app[SERVICES] = await _open(stack, app, sockets, broker, router, wrap_bus)
            _watch_metrics(app)
            await stack.enter_async_context(refresh_forever(metrics))
            stack.enter_context(metrics.gc_pauses.timing())
            if app[SERVICES].test_mode.allowed:
                log.warning(
                    "test mode is allowed (CHATR_TEST_MODE=1): bypass codes and /api/test/*"
                    " are live"
                )
            yield

    app.cleanup_ctx.append(run)
    app.on_startup.append(prepare_assets)
    setup_routes(app)
    return app


def _watch_metrics(app: web.Application) -> None:
    """Point the metrics at the states they read at scrape time."""
    services, lifecycle = app[SERVICES], app[LIFECYCLE]
    monitor = services.dependencies
    broker = services.broker
    app[METRICS].watch(
        pool=services.pool,
        monitor=monitor,
        sockets=services.sockets,
        broker_lost=(lambda: broker.lost) if broker is not None else None,
        broker_refused=(lambda: broker.refused) if broker is not None else None,
        ready=lambda: not lifecycle.draining and all(monitor.is_up(n) for n in monitor.names),
    )


async def _open(
    stack: contextlib.AsyncExitStack,
    app: web.Application,
    sockets: SocketServer,
    broker: RedisBroker | None,
    router: NodeRouter | None,
    wrap_bus: BusWrapper | None,
) -> Services:
    """Open every resource and build the container; ``stack`` closes them in reverse."""
    settings = app[SETTINGS]
    monitor = app[DEPENDENCIES]
    dsn, embedded = await resolve_database_url(settings)
    if embedded is not None:
        stack.push_async_callback(embedded.stop)
    try:
        pool = await create_pool(dsn, settings.database_pool_size, settings.database_pool_timeout)
        stack.push_async_callback(pool.close)
        # The pool keeps no idle floor, so this is the first real connection.
        first = await pool.acquire()
    except (OSError, TimeoutError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
        reason = str(e).strip() or type(e).__name__
        raise StartupError(f"cannot connect to PostgreSQL at {_where(dsn)}: {reason}") from None
    try:
        if settings.production:
            missing = await migrations.pending(first)
            if missing:
                raise migrations.MigrationError(
                    f"the database needs migrations {', '.join(missing)}: "
                    "run `python -m chatr_server migrate` first"
                )
        else:
            await migrations.migrate(first)
    finally:
        await pool.release(first)
    store = create_store(settings, monitor)
    stack.push_async_callback(store.close)
    mailer = create_mailer(settings)
    stack.push_async_callback(mailer.close)
    sms = create_sms_sender(settings)
    stack.push_async_callback(sms.close)
    storage = create_storage(settings)
    stack.push_async_callback(storage.close)
    stack.push_async_callback(monitor.close)
    monitor.register(POSTGRES, lambda: probe_postgres(pool))
    if store.kind == "redis":
        monitor.register(REDIS, store.ping)
    if store.kind == "redis" and not await store.ping():
        monitor.failed(REDIS, "not answering at start-up", count=False)
    queries = Queries()
    users_repo = UsersRepo(queries)
    # Revocations outlive their tokens by nothing: drop the expired ones at start-up.
    await users_repo.purge_revoked(pool)

    # The realtime transport and the one bus, before any service that emits.
    if broker is not None:
        await broker.start()
        stack.push_async_callback(broker.close)
    if router is not None:
        await router.start()
        stack.push_async_callback(router.close)
    presence = PresenceService(store)
    await presence.start()
    stack.push_async_callback(presence.stop)
    monitor.on_recovery(REDIS, presence.resync)
    bus: EventBus = RealtimeBus(sockets.of("/"), presence)
    if wrap_bus is not None:
        bus = wrap_bus(bus)

    services = _build(
        settings, monitor, pool, queries, users_repo, store, mailer, sms, storage,
        sockets, broker, router, presence, bus, app[METRICS],
    )  # fmt: skip
    # Closed before the transport and the resources they use (the stack runs backwards).
    stack.push_async_callback(services.uploads.close)
    stack.push_async_callback(services.group_uploads.drain)
    stack.push_async_callback(services.messaging.close)
    stack.push_async_callback(services.calls.close)
    # Abandoned guests go at start-up and every 30 minutes (behaviors.md §14).
    services.widget.start_cleanup()
    stack.push_async_callback(services.widget.stop_cleanup)
    return services


def _build(
    settings: Settings,
    monitor: DependencyMonitor,
    pool: asyncpg.Pool,
    queries: Queries,
    users_repo: UsersRepo,
    store: KeyValueStore,
    mailer: Mailer,
    sms: SmsSender,
    storage: Storage,
    sockets: SocketServer,
    broker: RedisBroker | None,
    router: NodeRouter | None,
    presence: PresenceService,
    bus: EventBus,
    metrics: Metrics,
) -> Services:
    """Every service, each given its collaborators, in dependency order (no I/O)."""
    # Settings built in code (not from_env) could ask for both: production wins (SEC-7).
    test_mode = TestMode(store, settings.test_mode_allowed and not settings.production)
    tokens = TokenService(settings.jwt_secret)
    notifier = Notifier(
        mailer,
        sms,
        test_mode,
        settings.product_name,
        settings.frontend_url,
        mail_from_name=settings.mail_from_name,
    )
    rate_limiter = RateLimiter(store, test_mode, settings.rate_limits_enabled)
    attachments = Attachments(
        settings.jwt_secret,
        storage,
        pool,
        AttachmentsRepo(queries),
        ttl_s=settings.attachment_link_ttl_s,
        public_url=settings.public_url,
    )
    friendships_repo = FriendshipsRepo(queries)
    messages_repo = MessagesRepo(queries)
    directory_repo = DirectoryRepo(queries)
    groups_repo = GroupsRepo(queries)
    widget_repo = WidgetRepo(queries)
    conversations = ConversationService(pool, ConversationsRepo(queries), bus)
    social = SocialService(pool, friendships_repo, conversations, store)
    profile_events = ProfileEvents(pool, social, test_mode, bus)
    groups = GroupService(pool, groups_repo, storage, bus, attachments)
    return Services(
        settings=settings,
        dependencies=monitor,
        pool=pool,
        queries=queries,
        store=store,
        mailer=mailer,
        sms=sms,
        storage=storage,
        sockets=sockets,
        broker=broker,
        router=router,
        presence=presence,
        bus=bus,
        test_mode=test_mode,
        tokens=tokens,
        rate_limiter=rate_limiter,
        notifier=notifier,
        attachments=attachments,
        auth=AuthService(
            pool,
            users_repo,
            tokens,
            PasswordHasher(settings.bcrypt_rounds),
            CodeService(CodesRepo(queries), settings.jwt_secret),
            notifier,
            test_mode,
            settings.dev_phone_whitelist,
            bus=bus,
            rate_limiter=rate_limiter,
        ),
        social=social,
        conversations=conversations,
        profile_events=profile_events,
        users=UserService(pool, users_repo, profile_events),
        two_factor=TwoFactorService(pool, users_repo, tokens, store, settings.product_name),
        groups=groups,
        group_roles=GroupRoleService(pool, groups_repo, bus),
        group_uploads=GroupUploads(pool, groups_repo, groups, storage, bus, attachments),
        directory=DirectoryService(pool, directory_repo),
        history=HistoryService(pool, messages_repo, attachments),
        uploads=UploadService(
            pool,
            messages_repo,
            directory_repo,
            friendships_repo,
            storage,
            test_mode,
            settings.jwt_secret,
            bus,
            attachments,
            profile_events,
        ),
        messaging=MessagingService(
            pool,
            MessagingRepo(queries),
            presence,
            bus,
            attachments,
            write_window=settings.group_commit_window_ms / 1000,
            max_pending_writes=settings.max_pending_writes,
            stored=metrics.stored,
            on_batch=metrics.batch_size.observe,
        ),
        message_actions=MessageActionsService(pool, MessageActionsRepo(queries), bus),
        calls=CallService(pool, CallsRepo(queries), bus),
        widget=WidgetService(
            pool,
            widget_repo,
            tokens,
            bus,
            storage,
            settings.jwt_secret,
            presence,
            links=attachments,
        ),
        admin=AdminService(pool, AdminRepo(queries), widget_repo, bus, links=attachments),
        contact=ContactService(
            pool,
            ContactRepo(queries),
            mailer,
            EmailTemplates(settings.product_name, settings.frontend_url),
            test_mode,
            settings.contact_email,
        ),
        linkpreview=LinkPreviewService(),
        testdata=(
            TestDataService(pool, TestDataRepo(queries), users_repo) if test_mode.allowed else None
        ),
    )
