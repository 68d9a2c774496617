"""``/api/users`` directory handlers: lists, search, conversations, profile views."""

from __future__ import annotations

from aiohttp import web

from chatr_server.api.openapi import doc
from chatr_server.api.request import read_query, require_user
from chatr_server.api.schemas.directory import (
    ProfileResponseSchema,
    SearchQuerySchema,
    SearchResultsSchema,
    UserListSchema,
)
from chatr_server.api.schemas.messages import ConversationListSchema
from chatr_server.appkeys import SERVICES
from chatr_server.util.jsonx import json_response


@doc(
    "Verified users, by username (private fields follow each user's privacy settings)",
    tags=["users"],
    auth=True,
    responses={200: UserListSchema},
)
async def list_users(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await request.app[SERVICES].directory.list_users(user.id))


@doc(
    "Search users by name (at most 30, friends first)",
    tags=["users"],
    auth=True,
    query=SearchQuerySchema,
    responses={200: SearchResultsSchema},
)
async def search_users(request: web.Request) -> web.Response:
    user = await require_user(request)
    result = await request.app[SERVICES].directory.search(user.id, read_query(request).get("q"))
    return json_response(result)


@doc(
    "The caller's DM partners with last message, unread count and request state",
    tags=["users", "messages"],
    auth=True,
    responses={200: ConversationListSchema},
)
async def conversations(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await request.app[SERVICES].history.conversations(user.id))


@doc(
    "A user's profile, privacy-filtered for the caller",
    tags=["users"],
    auth=True,
    responses={200: ProfileResponseSchema, 404: "User not found"},
)
async def user_by_id(request: web.Request) -> web.Response:
    user = await require_user(request)
    result = await request.app[SERVICES].directory.by_id(user.id, request.match_info["userId"])
    return json_response(result)


@doc(
    "A user's public card by exact username (with @, URL-encoded as %40)",
    tags=["users"],
    auth=True,
    responses={200: ProfileResponseSchema, 404: "User not found"},
)
async def user_by_username(request: web.Request) -> web.Response:
    user = await require_user(request)
    result = await request.app[SERVICES].directory.by_username(
        user.id, request.match_info["username"]
    )
    return json_response(result)
