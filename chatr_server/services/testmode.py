"""Test mode: the e2e suite's OTP bypass, cleanup routes and suppressed side effects.

It exists only when the operator sets ``CHATR_TEST_MODE=1`` outside
production (never from a request alone). While allowed it is on by default;
``POST /api/test/mode`` can switch it off or on, and that choice is kept in
the shared store for an hour, so every process agrees and a restart keeps it.
While the store is unreachable the last state this process knew holds, so
login and registration never need Redis to answer.
"""

from __future__ import annotations

from chatr_server.services.dependencies import is_dependency_outage
from chatr_server.store import KeyValueStore

BYPASS_CODE = "000000"
_FLAG_KEY = "test_mode"
_FLAG_TTL_S = 3600


class TestMode:
    __test__ = False  # not a pytest test class

    def __init__(self, store: KeyValueStore, allowed: bool) -> None:
        self._store = store
        self.allowed = allowed
        self._last = True  # on by default while allowed

    async def is_on(self) -> bool:
        if not self.allowed:
            return False
        try:
            flag = await self._store.get(_FLAG_KEY)
        except Exception as exc:
            if is_dependency_outage(exc) is None:
                raise
            return self._last
        self._last = flag != "0"
        return self._last

    async def set(self, enabled: bool) -> None:
        if not self.allowed:
            return
        self._last = enabled
        try:
            await self._store.set(_FLAG_KEY, "1" if enabled else "0", ttl_s=_FLAG_TTL_S)
        except Exception as exc:
            if is_dependency_outage(exc) is None:
                raise

    async def bypasses(self, code: object) -> bool:
        """True when ``code`` is the bypass code and test mode is on."""
        return code == BYPASS_CODE and await self.is_on()
