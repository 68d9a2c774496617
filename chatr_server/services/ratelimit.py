"""Fixed-window rate limits per client address, counted in the shared store.

Windows and limits follow behaviors.md §13. Limits are off while test mode is
on, and fail open when the store is unreachable (a Redis outage must not lock
everyone out of logging in).

Beyond the original's four per-IP limits, SEC-9 and SEC-18 add per-account
throttles (one person behind many addresses must not flood a victim with
codes) and per-IP limits on the public code-checking and preview routes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from chatr_server.errors import ServiceError
from chatr_server.services.dependencies import is_dependency_outage
from chatr_server.services.testmode import TestMode
from chatr_server.store import KeyValueStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Limit:
    name: str
    max_hits: int
    window_s: int


LIMITS = {
    "register": Limit("register", 5, 900),
    "login": Limit("login", 10, 900),
    "resend": Limit("resend", 3, 300),
    "forgot-pw": Limit("forgot-pw", 3, 900),
    # Rewrite additions (SEC-9, SEC-18).
    "resend-user": Limit("resend-user", 3, 900),
    "forgot-pw-user": Limit("forgot-pw-user", 3, 900),
    "verify": Limit("verify", 30, 900),
    "email-preview": Limit("email-preview", 30, 60),
    # Public widget and contact routes (SEC-15, SEC-18), per client address;
    # link previews per user (each one makes the server fetch a page).
    "guest-session": Limit("guest-session", 20, 900),
    "offline-message": Limit("offline-message", 5, 900),
    "contact": Limit("contact", 5, 900),
    "link-preview": Limit("link-preview", 60, 60),
}


class RateLimiter:
    def __init__(self, store: KeyValueStore, test_mode: TestMode, enabled: bool = True) -> None:
        self._store = store
        self._test_mode = test_mode
        self._enabled = enabled
        self._failing_open = False  # logged once per store outage, not once per request

    async def hit(self, limit_name: str, client: str) -> int | None:
        """Count one request; return the remaining allowance (``None`` when not limited).

        Raises a 429 :class:`ServiceError` once the window's allowance is used up.
        """
        limit = LIMITS[limit_name]
        if not self._enabled or await self._test_mode.is_on():
            return None
        try:
            count, ttl_ms = await self._store.incr_window(
                f"rl:{limit.name}:{client}", limit.window_s
            )
        except Exception as exc:
            if not self._failing_open:
                self._failing_open = True
                log.warning(
                    "rate-limit store unavailable (%s); allowing requests until it answers",
                    type(exc).__name__,
                    exc_info=is_dependency_outage(exc) is None,
                )
            return None
        if self._failing_open:
            self._failing_open = False
            log.info("rate-limit store answers again; limits apply")
        remaining = max(0, limit.max_hits - count)
        if count > limit.max_hits:
            raise ServiceError(
                429,
                "Too many attempts. Please try again later.",
                retryAfter=max(1, -(-ttl_ms // 1000)),
                headers={"X-RateLimit-Remaining": "0"},
            )
        return remaining

    async def allow(self, limit_name: str, key: str) -> bool:
        """Count one hit like :meth:`hit` but answer False instead of raising.

        For throttles whose outcome must stay invisible to the caller (for
        example forgot-password must answer the same whether or not it mailed).
        """
        try:
            await self.hit(limit_name, key)
        except ServiceError:
            return False
        return True
