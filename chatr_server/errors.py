"""Domain errors shared by the HTTP and socket layers.

Services raise :class:`ServiceError` with the contract's status and message;
the HTTP middleware renders it as ``{"error": …}`` (or ``{"message": …}`` for
the friends routes) and socket handlers turn it into an ``error`` event or an
ack error. Nothing else should know about status codes.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        key: str = "error",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.key = key
        self.headers = headers
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {self.key: self.message, **self.extra}


def bad_request(message: str, **extra: Any) -> ServiceError:
    return ServiceError(400, message, **extra)


def unauthorized(message: str) -> ServiceError:
    return ServiceError(401, message)


def forbidden(message: str) -> ServiceError:
    return ServiceError(403, message)


def not_found(message: str) -> ServiceError:
    return ServiceError(404, message)


def conflict(message: str) -> ServiceError:
    return ServiceError(409, message)
