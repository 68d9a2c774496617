"""Process lifecycle state shared by the readiness probe and the graceful drain.

``serving.run`` flips :attr:`Lifecycle.draining` the moment SIGTERM/SIGINT
arrives, so ``GET /api/health/ready`` answers 503 at once and a load balancer
takes the node out of rotation while it still serves (docs/reliability.md).
"""

from __future__ import annotations

import logging

from aiohttp import web

log = logging.getLogger("chatr_server.lifecycle")


class StartupError(RuntimeError):
    """A start-up failure the operator fixes outside the code: one line, no traceback."""


class Lifecycle:
    """Whether this process is draining (it stays up, but must get no new traffic)."""

    __slots__ = ("draining",)

    def __init__(self) -> None:
        self.draining = False

    def begin_drain(self) -> None:
        self.draining = True


LIFECYCLE = web.AppKey("lifecycle", Lifecycle)
