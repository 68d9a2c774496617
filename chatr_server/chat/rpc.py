"""The catch-all for events this server does not handle (events.md §5).

An unknown event sent with an ack is answered at once with
``{"error": "Not implemented"}`` so the web client's REST fallback starts
without its 4-second wait; without an ack it is ignored.
"""

from __future__ import annotations

from typing import Any

from chatr_server.realtime import Namespace, Socket

NOT_IMPLEMENTED = {"error": "Not implemented"}


def register(ns: Namespace) -> None:
    @ns.on_unknown
    def unknown(sock: Socket, event: str, *args: Any) -> dict[str, str]:
        return NOT_IMPLEMENTED
