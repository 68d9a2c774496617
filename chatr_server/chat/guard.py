"""Turn failures inside socket handlers into the contract's replies.

Events without an ack report failures with an ``error`` event to the sender;
events with an ack answer ``{"error": …}``. Nothing raises out of a handler,
so a bad payload never drops the connection or disturbs other sockets.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from chatr_server.errors import ServiceError
from chatr_server.realtime import Socket
from chatr_server.services.message_input import InvalidPayload

log = logging.getLogger("chatr_server.chat")

Handler = Callable[..., Awaitable[Any]]


def event(failure: str, *, bare_error: bool = False) -> Callable[[Handler], Handler]:
    """Handler methods of events without ack: failures become ``error`` events."""

    def wrap(fn: Handler) -> Handler:
        @functools.wraps(fn)
        async def run(owner: Any, sock: Socket, *args: Any) -> None:
            try:
                await fn(owner, sock, *args)
            except (InvalidPayload, ServiceError) as exc:
                message = exc.message
                sock.emit("error", message if bare_error else {"message": message})
            except Exception:
                log.exception("socket handler %s failed", fn.__name__)
                sock.emit("error", failure if bare_error else {"message": failure})

        return run

    return wrap


def rpc(failure: str = "Internal error") -> Callable[[Handler], Handler]:
    """Handler methods of ack events: the result is the ack; failures ``{"error": …}``."""

    def wrap(fn: Handler) -> Handler:
        @functools.wraps(fn)
        async def run(owner: Any, sock: Socket, *args: Any) -> Any:
            try:
                return await fn(owner, sock, *args)
            except (InvalidPayload, ServiceError) as exc:
                return {"error": exc.message}
            except Exception:
                log.exception("socket rpc %s failed", fn.__name__)
                return {"error": failure}

        return run

    return wrap
