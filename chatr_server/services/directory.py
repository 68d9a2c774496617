"""Other users as the caller may see them: lists, search, profiles (rest.md §3).

Privacy levels (behaviors.md §8) are applied wherever a field leaves the
server (SEC-6): ``everyone`` shows it, ``friends`` shows it to accepted
friends, ``nobody`` hides it. In list payloads a hidden field is ``null``
(their key sets stay fixed); in the profile view the key is absent, as the
contract specifies. The caller's own row in ``GET /api/users`` is not filtered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from chatr_server.errors import not_found
from chatr_server.repos.directory import DirectoryRepo
from chatr_server.util.ids import parse_uuid
from chatr_server.util.timefmt import iso_ms

Row = Mapping[str, Any]

SEARCH_CAP = 30
# GET /api/users is unpaginated in the contract; this bounds the response size.
LIST_CAP = 1000
MAX_QUERY_LENGTH = 100
MAX_USERNAME_LENGTH = 64


def visible(level: str | None, is_friend: bool) -> bool:
    """Whether a field with privacy ``level`` may be shown to a viewer."""
    return level == "everyone" or (level == "friends" and is_friend)


def like_pattern(text: str) -> str:
    """``%text%`` with LIKE wildcards escaped (``ESCAPE '\\'``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _listed_user(row: Row, viewer_id: str) -> dict[str, Any]:
    own = str(row["id"]) == viewer_id
    friend = row["viewer_is_friend"]
    names = own or visible(row["privacy_full_name"], friend)
    return {
        "id": str(row["id"]),
        "username": row["username"],
        "email": row["email"] if own or visible(row["privacy_email"], friend) else None,
        "emailVerified": row["email_verified"],
        "createdAt": iso_ms(row["created_at"])
        if own or visible(row["privacy_joined_date"], friend)
        else None,
        "displayName": row["display_name"],
        "firstName": row["first_name"] if names else None,
        "lastName": row["last_name"] if names else None,
        "profileImage": row["profile_image"],
    }


def _search_result(row: Row, viewer_id: str) -> dict[str, Any]:
    friend = row["viewer_is_friend"]
    names = visible(row["privacy_full_name"], friend)
    friendship = None
    if row["friendship_id"] is not None:
        friendship = {
            "id": str(row["friendship_id"]),
            "status": row["friendship_status"],
            "iRequested": str(row["friendship_requester_id"]) == viewer_id,
        }
    return {
        "id": str(row["id"]),
        "username": row["username"],
        "displayName": row["display_name"],
        "firstName": row["first_name"] if names else None,
        "lastName": row["last_name"] if names else None,
        "profileImage": row["profile_image"],
        "lastSeen": iso_ms(row["last_seen"])
        if visible(row["privacy_online_status"], friend)
        else None,
        "isBot": row["is_bot"],
        "isGuest": row["is_guest"],
        "friendship": friendship,
        "isFriend": friendship is not None and friendship["status"] == "accepted",
    }


def _profile(row: Row) -> dict[str, Any]:
    """The ``by-id`` view: fixed fields, plus each private field only when visible."""
    friend = row["viewer_is_friend"]
    user: dict[str, Any] = {
        "id": str(row["id"]),
        "username": row["username"],
        "displayName": row["display_name"],
        "profileImage": row["profile_image"],
        "coverImage": row["cover_image"],
        "lastSeen": iso_ms(row["last_seen"])
        if visible(row["privacy_online_status"], friend)
        else None,
        "emailVerified": row["email_verified"],
    }
    if visible(row["privacy_full_name"], friend):
        user["firstName"] = row["first_name"]
        user["lastName"] = row["last_name"]
    if visible(row["privacy_phone"], friend):
        user["phoneNumber"] = row["phone_number"]
    if visible(row["privacy_email"], friend):
        user["email"] = row["email"]
    if visible(row["privacy_gender"], friend):
        user["gender"] = row["gender"]
    if visible(row["privacy_joined_date"], friend):
        user["createdAt"] = iso_ms(row["created_at"])
    return user


class DirectoryService:
    def __init__(self, pool: asyncpg.Pool, repo: DirectoryRepo) -> None:
        self._pool = pool
        self._repo = repo

    async def list_users(self, viewer_id: str) -> dict[str, Any]:
        rows = await self._repo.list_users(self._pool, viewer_id, LIST_CAP)
        return {"users": [_listed_user(r, viewer_id) for r in rows]}

    async def search(self, viewer_id: str, query: str | None) -> dict[str, Any]:
        text = (query or "").strip()[:MAX_QUERY_LENGTH]
        if not text:
            return {"users": []}
        rows = await self._repo.search_users(self._pool, viewer_id, like_pattern(text), SEARCH_CAP)
        return {"users": [_search_result(r, viewer_id) for r in rows]}

    async def by_id(self, viewer_id: str, target: str) -> dict[str, Any]:
        target_id = parse_uuid(target)
        row = (
            await self._repo.profile_view(self._pool, viewer_id, target_id)
            if target_id is not None
            else None
        )
        if row is None:
            raise not_found("User not found")
        if row["blocked_viewer"]:
            return {"blockedByThem": True}
        return {"user": _profile(row)}

    async def by_username(self, viewer_id: str, username: str) -> dict[str, Any]:
        name = username.strip()
        if not name.startswith("@"):
            name = "@" + name
        row = None
        if len(name) <= MAX_USERNAME_LENGTH:
            row = await self._repo.profile_by_username(self._pool, viewer_id, name)
        if row is None:
            raise not_found("User not found")
        if row["blocked_viewer"]:
            return {"blockedByThem": True}
        friend = row["viewer_is_friend"]
        names = visible(row["privacy_full_name"], friend)
        return {
            "user": {
                "id": str(row["id"]),
                "username": row["username"],
                "displayName": row["display_name"],
                "firstName": row["first_name"] if names else None,
                "lastName": row["last_name"] if names else None,
                "profileImage": row["profile_image"],
                "coverImage": row["cover_image"],
                "lastSeen": iso_ms(row["last_seen"])
                if visible(row["privacy_online_status"], friend)
                else None,
                "emailVerified": row["email_verified"],
            }
        }
