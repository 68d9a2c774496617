"""The application factory: one function builds the whole server.

The CLI, the tests and the load scripts all call :func:`create_app`, so they
run exactly the same wiring. Resources (database pool, store, mail and SMS
clients) open in a cleanup context and close in reverse order on shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import asyncpg
from aiohttp import web

from chatr_server.api.handlers.health import OPENAPI_CACHE
from chatr_server.api.handlers.static import prepare_assets
from chatr_server.api.middleware import docs_auth, error_boundary, request_context
from chatr_server.api.routes import setup_routes
from chatr_server.appkeys import DEPENDENCIES, METRICS, SERVICES, SETTINGS
from chatr_server.chat.gateway import REDIS_BROKER, SOCKET_SERVER, setup_chat
from chatr_server.db import migrate as migrations
from chatr_server.db.embedded import EmbeddedPostgres
from chatr_server.db.pool import create_pool
from chatr_server.db.queries import Queries
from chatr_server.integrations.mail import create_mailer
from chatr_server.integrations.sms import create_sms_sender
from chatr_server.integrations.storage import create_storage
from chatr_server.lifecycle import LIFECYCLE, Lifecycle, StartupError
from chatr_server.metrics import Metrics, metrics_middleware, multiprocess_dir, refresh_forever
from chatr_server.repos.attachments import AttachmentsRepo
from chatr_server.repos.codes import CodesRepo
from chatr_server.repos.conversations import ConversationsRepo
from chatr_server.repos.directory import DirectoryRepo
from chatr_server.repos.friendships import FriendshipsRepo
from chatr_server.repos.groups import GroupsRepo
from chatr_server.repos.messages import MessagesRepo
from chatr_server.repos.testdata import TestDataRepo
from chatr_server.repos.users import UsersRepo
from chatr_server.services.attachments import Attachments
from chatr_server.services.auth import AuthService
from chatr_server.services.codes import CodeService
from chatr_server.services.container import Services
from chatr_server.services.dependencies import (
    POSTGRES,
    REDIS,
    DependencyMonitor,
    probe_postgres,
)
from chatr_server.services.directory import DirectoryService
from chatr_server.services.group_uploads import GroupUploads
from chatr_server.services.groups import GroupService
from chatr_server.services.history import HistoryService
from chatr_server.services.notify import Notifier
from chatr_server.services.passwords import PasswordHasher
from chatr_server.services.profile_events import ProfileEvents
from chatr_server.services.ratelimit import RateLimiter
from chatr_server.services.social import SocialService
from chatr_server.services.testdata import TestDataService
from chatr_server.services.testmode import TestMode
from chatr_server.services.tokens import TokenService
from chatr_server.services.twofactor import TwoFactorService
from chatr_server.services.uploads import UploadService
from chatr_server.services.users import UserService
from chatr_server.settings import Settings
from chatr_server.store import KeyValueStore, MemoryStore, RedisStore

log = logging.getLogger(__name__)

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
        return RedisStore(settings.redis_url, settings.redis_prefix, monitor)
    return MemoryStore()


async def _resources(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    dsn, embedded = await resolve_database_url(settings)
    try:
        pool = await create_pool(dsn, settings.database_pool_size, settings.database_pool_timeout)
        # The pool keeps no idle floor, so this is the first real connection.
        first = await pool.acquire()
    except (OSError, TimeoutError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
        if embedded is not None:
            await embedded.stop()
        reason = str(e).strip() or type(e).__name__
        raise StartupError(f"cannot connect to PostgreSQL at {_where(dsn)}: {reason}") from None
    monitor = app[DEPENDENCIES]
    monitor.register(POSTGRES, lambda: probe_postgres(pool))
    store = create_store(settings, monitor)
    if store.kind == "redis":
        monitor.register(REDIS, store.ping)
    mailer = create_mailer(settings)
    sms = create_sms_sender(settings)
    storage = create_storage(settings)
    try:
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
        if store.kind == "redis" and not await store.ping():
            monitor.failed(REDIS, "not answering at start-up", count=False)
        queries = Queries()
        # Settings built in code (not from_env) could ask for both: production wins (SEC-7).
        test_mode = TestMode(store, settings.test_mode_allowed and not settings.production)
        tokens = TokenService(settings.jwt_secret)
        passwords = PasswordHasher(settings.bcrypt_rounds)
        users_repo = UsersRepo(queries)
        # Revocations outlive their tokens by nothing: drop the expired ones at start-up.
        await users_repo.purge_revoked(pool)
        codes = CodeService(CodesRepo(queries), settings.jwt_secret)
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
        # The bus is read through the container on every emit: the realtime layer replaces it.
        groups = GroupService(pool, GroupsRepo(queries), storage, lambda: services.bus, attachments)
        group_uploads = GroupUploads(groups, storage)
        messages_repo = MessagesRepo(queries)
        directory_repo = DirectoryRepo(queries)
        friendships_repo = FriendshipsRepo(queries)
        # The bus is looked up per event: the realtime layer replaces it after start-up.
        uploads = UploadService(
            pool,
            messages_repo,
            directory_repo,
            friendships_repo,
            storage,
            test_mode,
            settings.jwt_secret,
            lambda: services.bus,
            attachments,
        )
        services = Services(
            settings=settings,
            pool=pool,
            queries=queries,
            store=store,
            test_mode=test_mode,
            tokens=tokens,
            rate_limiter=rate_limiter,
            mailer=mailer,
            sms=sms,
            storage=storage,
            auth=AuthService(
                pool,
                users_repo,
                tokens,
                passwords,
                codes,
                notifier,
                test_mode,
                settings.dev_phone_whitelist,
                rate_limiter=rate_limiter,
                bus=lambda: services.bus,
            ),
            users=UserService(pool, users_repo),
            social=SocialService(
                pool,
                friendships_repo,
                ConversationsRepo(queries),
                store,
                # Late-bound: the realtime layer swaps services.bus after start-up.
                bus=lambda: services.bus,
            ),
            notifier=notifier,
            two_factor=TwoFactorService(pool, users_repo, tokens, store, settings.product_name),
            groups=groups,
            group_uploads=group_uploads,
            directory=DirectoryService(pool, directory_repo),
            history=HistoryService(pool, messages_repo, attachments),
            uploads=uploads,
            attachments=attachments,
        )
        services.extra["testdata"] = TestDataService(pool, TestDataRepo(queries), users_repo)
        profile_events = ProfileEvents(pool, services.social, test_mode, lambda: services.bus)
        uploads.profile_events = profile_events
        services.users.on_profile_update(profile_events.announce)
        app[SERVICES] = services
        if test_mode.allowed:
            log.warning(
                "test mode is allowed (CHATR_TEST_MODE=1): bypass codes and /api/test/* are live"
            )
        yield
        await group_uploads.drain()
        await uploads.close()
    finally:
        await monitor.close()
        await storage.close()
        await sms.close()
        await mailer.close()
        await store.close()
        await pool.close()
        if embedded is not None:
            await embedded.stop()


def create_app(settings: Settings) -> web.Application:
    """Build the aiohttp application for ``settings`` (resources open on startup)."""
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
    app.cleanup_ctx.append(_resources)
    app.on_startup.append(prepare_assets)
    setup_routes(app)
    setup_chat(app)
    app.cleanup_ctx.append(_support_services)
    app.cleanup_ctx.append(_metric_sources)
    return app


async def _metric_sources(app: web.Application) -> AsyncIterator[None]:
    """Point the metrics at the states they read at scrape time."""
    metrics = app[METRICS]
    monitor = app[DEPENDENCIES]
    lifecycle = app[LIFECYCLE]
    broker = app.get(REDIS_BROKER)
    metrics.watch(
        pool=app[SERVICES].pool,
        monitor=monitor,
        sockets=app[SOCKET_SERVER],
        broker_lost=(lambda: broker.lost) if broker is not None else None,
        ready=lambda: not lifecycle.draining and all(monitor.is_up(n) for n in monitor.names),
    )
    async with refresh_forever(metrics):
        yield


async def _support_services(app: web.Application) -> AsyncIterator[None]:
    """Widget, support inbox, contact form and link previews (after the realtime bus)."""
    from chatr_server.integrations.templates import EmailTemplates
    from chatr_server.repos.admin import AdminRepo
    from chatr_server.repos.contact import ContactRepo
    from chatr_server.repos.widget import WidgetRepo
    from chatr_server.services.admin import AdminService
    from chatr_server.services.contact import ContactService
    from chatr_server.services.linkpreview import LinkPreviewService
    from chatr_server.services.widget import WidgetService

    services = app[SERVICES]
    settings = services.settings
    widget_repo = WidgetRepo(services.queries)
    widget = WidgetService(
        services.pool,
        widget_repo,
        services.tokens,
        services.bus,
        services.storage,
        settings.jwt_secret,
        services.extra.get("presence"),
        links=services.attachments,
    )
    services.extra["widget"] = widget
    services.extra["admin"] = AdminService(
        services.pool,
        AdminRepo(services.queries),
        widget_repo,
        services.bus,
        links=services.attachments,
    )
    services.extra["contact"] = ContactService(
        services.pool,
        ContactRepo(services.queries),
        services.mailer,
        EmailTemplates(settings.product_name, settings.frontend_url),
        services.test_mode,
        settings.contact_email,
    )
    services.extra["linkpreview"] = LinkPreviewService()
    # Abandoned guests go at start-up and every 30 minutes (behaviors.md §14).
    widget.start_cleanup()
    try:
        yield
    finally:
        await widget.stop_cleanup()
