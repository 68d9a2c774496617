"""Command line: ``python -m chatr_server serve|migrate|support-agent|conformance``."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from chatr_server.settings import ConfigError, Settings
from chatr_server.util.logging import setup_logging

log = logging.getLogger("chatr_server")

DESCRIPTION = """\
Chatr messaging server.

Configuration comes from environment variables (see conf/settings.md). With
nothing configured, `serve` starts an embedded PostgreSQL under ./var/pgdata,
keeps presence in process, stores uploads in ./uploads and writes email/SMS
to ./var/outbox.
"""


def _load_settings() -> Settings:
    try:
        settings = Settings.from_env().with_dev_secret()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    setup_logging(settings.log_level, settings.log_json)
    return settings


# A chat server allocates many short-lived objects per message and few cycles:
# collecting the young generation every 700 allocations (CPython's default)
# cost about 6% of CPU under message load.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Move start-up objects out of the collector's way and collect young objects less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


@contextmanager
def _startup_errors_exit() -> Iterator[None]:
    """A database the command cannot use stops it with one line, not a traceback."""
    from chatr_server import serving
    from chatr_server.db.embedded import EmbeddedPostgresError
    from chatr_server.db.migrate import MigrationError

    try:
        yield
    except (MigrationError, EmbeddedPostgresError) as exc:
        serving.fail(serving.describe_failure(exc))


def _serve(args: argparse.Namespace) -> None:
    import os
    from dataclasses import replace

    from chatr_server import serving
    from chatr_server.app import create_app
    from chatr_server.workers import (
        HANDOFF_DIR_ENV,
        WORKER_INDEX_ENV,
        bind_internal,
        internal_url,
    )

    settings = _load_settings()
    settings = replace(
        settings,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers or settings.workers,
    )
    try:
        settings.validate()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    worker = os.environ.get(WORKER_INDEX_ENV)
    if settings.workers > 1 and worker is None:
        if not settings.database_url:
            print("configuration error: --workers needs DATABASE_URL", file=sys.stderr)
            raise SystemExit(2)
        argv = ["-m", "chatr_server", "serve", "--host", settings.host]
        argv += ["--port", str(settings.port), "--workers", str(settings.workers)]
        log.info(
            "starting %d chatr_server workers on http://%s:%s",
            settings.workers,
            settings.host,
            settings.port,
        )
        # A worker drains for up to SHUTDOWN_TIMEOUT_SECONDS; the supervisor waits a bit more.
        raise SystemExit(
            _supervise_workers(
                argv, settings.workers, stop_grace=settings.shutdown_timeout_seconds + 5.0
            )
        )
    internal = None
    if settings.redis_url:
        # The listener other processes forward this process's sessions' requests to.
        index = int(worker or 0)
        port = settings.node_port + index if settings.node_port else 0
        try:
            internal = bind_internal(settings.node_host, port)
        except OSError as exc:
            where = f"{settings.node_host}:{port} (NODE_HOST/NODE_PORT)"
            serving.fail(f"cannot listen on {where}: {exc.strerror or exc}")
        if not settings.node_url:
            settings = replace(settings, node_url=internal_url(internal))
        if worker is not None:
            settings = replace(settings, node_handoff_dir=os.environ.get(HANDOFF_DIR_ENV))
    loop = None
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a hard dependency on Linux
        loop = asyncio.new_event_loop()
    try:
        app = create_app(settings)
    except Exception as exc:
        serving.fail(serving.describe_failure(exc))
    tune_gc()
    raise SystemExit(serving.run(app, settings, loop, internal=internal, worker=worker))


def _supervise_workers(argv: list[str], workers: int, *, stop_grace: float) -> int:
    """Run the workers with a private folder for their shared metrics (chatr_server/metrics.py)."""
    import shutil

    from chatr_server.metrics import prepare_multiprocess_dir, worker_exited
    from chatr_server.workers import supervise

    metrics_dir = prepare_multiprocess_dir()
    try:
        return supervise(
            lambda _index: argv,
            workers,
            stop_grace=stop_grace,
            on_exit=lambda pid: worker_exited(metrics_dir, pid),
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _migrate(_: argparse.Namespace) -> None:
    import asyncpg

    from chatr_server.app import resolve_database_url
    from chatr_server.db.migrate import migrate

    settings = _load_settings()

    async def run() -> list[str]:
        dsn, embedded = await resolve_database_url(settings)
        try:
            conn = await asyncpg.connect(dsn)
            try:
                return await migrate(conn)
            finally:
                await conn.close()
        finally:
            if embedded is not None:
                await embedded.stop()

    with _startup_errors_exit():
        applied = asyncio.run(run())
    print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))


def _conformance(args: argparse.Namespace) -> None:
    from chatr_server.realtime import conformance

    argv = ["--host", args.host or "127.0.0.1", "--port", str(args.port or 3000)]
    argv += ["--workers", str(args.workers)]
    if args.redis_url:
        argv += ["--redis-url", args.redis_url]
    if args.redis_prefix:
        argv += ["--redis-prefix", args.redis_prefix]
    conformance.main(argv)


def _support_agent(args: argparse.Namespace) -> None:
    from chatr_server.commands.support_agent import run

    settings = _load_settings()
    with _startup_errors_exit():
        status = run(settings, args.email)
    raise SystemExit(status)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m chatr_server",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the HTTP and Socket.IO server")
    serve.add_argument("--host", help="address to bind (default HOST or 0.0.0.0)")
    serve.add_argument("--port", type=int, help="port to bind (default PORT or 3001)")
    serve.add_argument(
        "--workers",
        type=int,
        help="processes sharing the port (default WEB_WORKERS or 1; >1 needs REDIS_URL)",
    )
    serve.set_defaults(func=_serve)

    mig = sub.add_parser("migrate", help="apply pending database migrations and exit")
    mig.set_defaults(func=_migrate)

    agent = sub.add_parser(
        "support-agent",
        help="make the verified account with EMAIL the (only) support agent",
    )
    agent.add_argument("email", metavar="EMAIL")
    agent.set_defaults(func=_support_agent)

    conf = sub.add_parser(
        "conformance",
        help="serve the apps the official Engine.IO/Socket.IO test suites expect",
    )
    conf.add_argument("--host", default="127.0.0.1")
    conf.add_argument("--port", type=int, default=3000)
    conf.add_argument("--workers", type=int, default=1, help="processes (>1 needs Redis)")
    conf.add_argument("--redis-url", help="Redis for --workers (default REDIS_URL)")
    conf.add_argument("--redis-prefix", help="key prefix (default: a fresh one per run)")
    conf.set_defaults(func=_conformance)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)
