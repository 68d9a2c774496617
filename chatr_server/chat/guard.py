"""Turn failures inside socket handlers into the contract's replies.

Events without an ack report failures with an ``error`` event to the sender;
events with an ack answer ``{"error": …}``. Nothing raises out of a handler,
so a bad payload never drops the connection or disturbs other sockets.

Two failures are not bugs and log no traceback: a payload with a NUL character
(PostgreSQL text cannot hold it) is an invalid payload, refused before the
handler runs; a dependency outage (``is_dependency_outage``) is counted by the
app's dependency monitor and answered with the event's usual failure text (an
ack answers ``Service temporarily unavailable``, as REST would).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from chatr_server.errors import ServiceError
from chatr_server.realtime import Socket
from chatr_server.services.dependencies import (
    UNAVAILABLE,
    DependencyMonitor,
    has_nul,
    is_unstorable_text,
)
from chatr_server.services.message_input import InvalidPayload

log = logging.getLogger("chatr_server.chat")

Handler = Callable[..., Awaitable[Any]]


def event(failure: str, *, bare_error: bool = False) -> Callable[[Handler], Handler]:
    """Handler methods of events without ack: failures become ``error`` events."""

    def wrap(fn: Handler) -> Handler:
        @functools.wraps(fn)
        async def run(owner: Any, sock: Socket, *args: Any) -> None:
            try:
                if args and has_nul(args[0] if len(args) == 1 else args):
                    raise InvalidPayload()
                await fn(owner, sock, *args)
            except Exception as exc:
                report_failure(owner, sock, fn.__name__, exc, failure, bare_error=bare_error)

        return run

    return wrap


def report_failure(
    owner: Any, sock: Socket, name: str, exc: Exception, failure: str, *, bare_error: bool = False
) -> None:
    """Answer the failure of event ``name`` (no ack) with the contract's ``error`` event.

    What :func:`event` does for a handler that raises; handlers that finish later,
    in a callback, call it themselves."""
    message = _failure_text(owner, name, exc, failure, failure)
    sock.emit("error", message if bare_error else {"message": message})


def rpc(failure: str = "Internal error") -> Callable[[Handler], Handler]:
    """Handler methods of ack events: the result is the ack; failures ``{"error": …}``."""

    def wrap(fn: Handler) -> Handler:
        @functools.wraps(fn)
        async def run(owner: Any, sock: Socket, *args: Any) -> Any:
            try:
                if args and has_nul(args[0] if len(args) == 1 else args):
                    raise InvalidPayload()
                return await fn(owner, sock, *args)
            except Exception as exc:
                return {"error": _failure_text(owner, fn.__name__, exc, failure, UNAVAILABLE)}

        return run

    return wrap


def _failure_text(owner: Any, name: str, exc: Exception, failure: str, outage: str) -> str:
    """The text a failed handler answers with; only unexpected failures are logged."""
    monitor: DependencyMonitor = owner._ctx.dependencies
    if monitor.refuse(exc) is not None:  # before ServiceError: DependencyUnavailable is one
        return outage
    if isinstance(exc, InvalidPayload | ServiceError):
        return exc.message
    if is_unstorable_text(exc):
        return InvalidPayload().message
    log.exception("socket handler %s failed", name, exc_info=exc)
    return failure
