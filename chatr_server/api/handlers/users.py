"""``/api/users`` handlers for one's own profile and username checks."""

from __future__ import annotations

from aiohttp import web

from chatr_server.api.openapi import doc
from chatr_server.api.request import read_body, read_query, require_user
from chatr_server.api.schemas.users import (
    AvailabilitySchema,
    SuggestionsSchema,
    UpdatedProfileSchema,
    UserMeSchema,
    UsernameQuerySchema,
)
from chatr_server.appkeys import SERVICES
from chatr_server.schemas.users import UpdateMeSchema
from chatr_server.util.jsonx import json_response


@doc(
    "The caller's own profile",
    tags=["users"],
    auth=True,
    responses={200: UserMeSchema, 404: "User not found"},
)
async def get_me(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await request.app[SERVICES].users.me(user.id))


@doc(
    "Update display name, names and gender",
    tags=["users"],
    auth=True,
    body=UpdateMeSchema,
    responses={200: UpdatedProfileSchema, 400: "Invalid value"},
)
async def update_me(request: web.Request) -> web.Response:
    user = await require_user(request)
    body = await read_body(request)
    return json_response(await request.app[SERVICES].users.update_me(user.id, body))


@doc(
    "Is a username free?",
    tags=["users"],
    query=UsernameQuerySchema,
    responses={200: AvailabilitySchema, 400: "Username is required"},
)
async def check_username(request: web.Request) -> web.Response:
    username = read_query(request)["username"]
    return json_response(await request.app[SERVICES].users.check_username(username))


@doc(
    "Up to three free usernames close to the one asked for",
    tags=["users"],
    query=UsernameQuerySchema,
    responses={200: SuggestionsSchema, 400: "Username is required"},
)
async def suggest_username(request: web.Request) -> web.Response:
    username = read_query(request)["username"]
    return json_response(await request.app[SERVICES].users.suggest_username(username))
