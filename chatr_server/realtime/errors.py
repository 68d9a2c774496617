"""Exceptions shared by the Engine.IO and Socket.IO layers."""

from __future__ import annotations

from typing import Any


class ProtocolError(ValueError):
    """Malformed or out-of-sequence input from a peer.

    The only exception the parsers are allowed to raise: connection handlers catch it
    and close the offending connection with the "parse error" reason.
    """


class ConnectionRefused(Exception):
    """Raised by an ``on_connect`` hook to refuse a namespace connection.

    The client receives a CONNECT_ERROR packet ``{"message": message}`` (plus ``"data"``
    when given), exactly as the Node server does for middleware errors.
    """

    def __init__(self, message: str = "Connection refused", data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data

    def error_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"message": self.message}
        if self.data is not None:
            payload["data"] = self.data
        return payload
