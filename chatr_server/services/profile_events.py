"""``user:profileUpdate``: tell a user's connected users that their profile changed.

One place for the rule, used by ``PUT /api/users/me``, ``users:me:update``
and the profile-image upload: sent to C(u) (behaviors.md §3), never while
test mode is on (behaviors.md §13).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from chatr_server.services.bus import EventBus
from chatr_server.services.social import SocialService
from chatr_server.services.testmode import TestMode


class ProfileEvents:
    def __init__(
        self,
        pool: asyncpg.Pool,
        social: SocialService,
        test_mode: TestMode,
        bus: EventBus,
    ) -> None:
        self._pool = pool
        self._social = social
        self._test_mode = test_mode
        self._bus = bus

    async def announce(self, user_id: str, payload: dict[str, Any]) -> None:
        if await self._test_mode.is_on():
            return
        connected, _pending = await self._social.connected_and_pending(self._pool, user_id)
        self._bus.to_users(sorted(connected), "user:profileUpdate", payload)
