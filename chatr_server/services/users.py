"""Own profile, username availability and suggestions (rest.md §3)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import asyncpg

from chatr_server.errors import bad_request, not_found
from chatr_server.presenters.users import updated_profile, user_me
from chatr_server.repos.users import UsersRepo
from chatr_server.services.auth import GENDERS, MAX_NAME_LENGTH, normalize_username
from chatr_server.services.profile_events import ProfileEvents

SUGGESTION_ATTEMPTS = 20
SUGGESTION_COUNT = 3
MAX_USERNAME_QUERY = 64


def _candidate(base: str) -> str:
    rnd = secrets.randbelow
    pick = rnd(6)
    if pick == 0:
        return f"{base}{rnd(999) + 1}"
    if pick == 1:
        return f"{base}{rnd(90) + 10}"
    if pick == 2:
        return f"{base}{rnd(900) + 100}"
    if pick == 3:
        return f"{base}_{rnd(999) + 1}"
    if pick == 4:
        return f"{base}{datetime.now(UTC).year}"
    return f"{base}{rnd(9000) + 1000}"


class UserService:
    def __init__(self, pool: asyncpg.Pool, users: UsersRepo, profile_events: ProfileEvents) -> None:
        self._pool = pool
        self._users = users
        self._profile_events = profile_events

    async def me(self, user_id: str) -> dict[str, Any]:
        row = await self._users.by_id(self._pool, user_id)
        if row is None:
            raise not_found("User not found")
        return user_me(row)

    async def update_me(self, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
        fields = ("displayName", "firstName", "lastName", "gender")
        values: list[Any] = []
        for key in fields:
            value = body.get(key) or None
            if isinstance(value, str):
                value = value.strip() or None
            if value is not None and len(value) > MAX_NAME_LENGTH:
                raise bad_request(f"{key} must be at most {MAX_NAME_LENGTH} characters")
            values.append(value)
        if values[3] is not None and values[3] not in GENDERS:
            raise bad_request("Invalid gender value")
        present = [key in body for key in fields]
        row = await self._users.update_profile(self._pool, user_id, values, present)
        if row is None:
            raise not_found("User not found")
        result = updated_profile(row)
        event = {
            "userId": result["id"],
            "displayName": result["displayName"],
            "firstName": result["firstName"],
            "lastName": result["lastName"],
            "profileImage": result["profileImage"],
        }
        await self._profile_events.announce(user_id, event)
        return result

    async def check_username(self, username: str | None) -> dict[str, Any]:
        if not username or not username.strip():
            raise bad_request("Username is required")
        if len(username) > MAX_USERNAME_QUERY:
            return {"available": False}
        taken = await self._users.id_by_username(self._pool, normalize_username(username))
        return {"available": taken is None}

    async def suggest_username(self, username: str | None) -> dict[str, Any]:
        if not username or not username.strip():
            raise bad_request("Username is required")
        base = username.strip().lstrip("@")[:MAX_USERNAME_QUERY]
        candidates: list[str] = []
        for _ in range(SUGGESTION_ATTEMPTS):
            name = _candidate(base)
            if name not in candidates:
                candidates.append(name)
        taken = await self._users.taken_usernames(self._pool, ["@" + c for c in candidates])
        free = [c for c in candidates if "@" + c not in taken]
        return {"suggestions": free[:SUGGESTION_COUNT]}
