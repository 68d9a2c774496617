"""``/api/friends`` handlers (rest.md §5): thin wrappers over :class:`SocialService`.

Every error body of these routes uses the ``message`` key, including the
500 (``{"message":"Server error"}``); authentication failures keep the
global ``error`` key, as in the original.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from chatr_server.api.openapi import doc
from chatr_server.api.request import read_body, read_query, require_user
from chatr_server.api.schemas.common import SuccessSchema
from chatr_server.api.schemas.social import (
    BlockedListSchema,
    BlockResultSchema,
    BlockStatusSchema,
    FriendRequestBodySchema,
    FriendRequestsSchema,
    FriendSearchQuerySchema,
    FriendSearchSchema,
    FriendshipResultSchema,
    FriendsListSchema,
)
from chatr_server.appkeys import SERVICES
from chatr_server.errors import ServiceError
from chatr_server.services.dependencies import is_dependency_outage, is_unstorable_text
from chatr_server.services.social import SocialService
from chatr_server.util.jsonx import json_response

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _friends_route(func: Handler) -> Handler:
    """Unexpected failures answer ``500 {"message":"Server error"}`` (never details)."""

    @functools.wraps(func)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await func(request)
        except (ServiceError, web.HTTPException):
            raise
        except Exception as exc:
            if is_dependency_outage(exc) or is_unstorable_text(exc):
                raise  # the error middleware answers 503 / 400
            log.exception("friends route failed: %s %s", request.method, request.rel_url.path)
            return json_response({"message": "Server error"}, status=500)

    return wrapper


def _social(request: web.Request) -> SocialService:
    return request.app[SERVICES].social


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        return await read_body(request)
    except ServiceError as exc:
        raise ServiceError(exc.status, exc.message, key="message") from None


@doc(
    "Accepted friends, newest first",
    tags=["friends"],
    auth=True,
    responses={200: FriendsListSchema},
)
@_friends_route
async def list_friends(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await _social(request).list_friends(user.id))


@doc(
    "Pending requests addressed to the caller",
    tags=["friends"],
    auth=True,
    responses={200: FriendRequestsSchema},
)
@_friends_route
async def incoming_requests(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await _social(request).incoming_requests(user.id))


@doc(
    "Pending requests the caller sent",
    tags=["friends"],
    auth=True,
    responses={200: FriendRequestsSchema},
)
@_friends_route
async def outgoing_requests(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await _social(request).outgoing_requests(user.id))


@doc(
    "Find people to befriend",
    tags=["friends"],
    auth=True,
    query=FriendSearchQuerySchema,
    responses={200: FriendSearchSchema},
)
@_friends_route
async def search(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await _social(request).search(user.id, read_query(request).get("q")))


@doc(
    "Send a friend request (accepts theirs if they already asked)",
    tags=["friends"],
    auth=True,
    body=FriendRequestBodySchema,
    responses={
        201: FriendshipResultSchema,
        200: FriendshipResultSchema,
        400: "addresseeId required / Cannot add yourself",
        404: "User not found",
        409: "Already friends / Cannot send request / Request already sent",
    },
)
@_friends_route
async def send_request(request: web.Request) -> web.Response:
    user = await require_user(request)
    body = await _body(request)
    result = await _social(request).send_request(user.id, body.get("addresseeId"))
    return json_response(result, status=200 if result.get("autoAccepted") else 201)


@doc(
    "Users the caller has blocked",
    tags=["friends"],
    auth=True,
    responses={200: BlockedListSchema},
)
@_friends_route
async def blocked(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await _social(request).blocked_users(user.id))


@doc(
    "Accept a friend request addressed to the caller",
    tags=["friends"],
    auth=True,
    responses={
        200: FriendshipResultSchema,
        403: "Not authorised",
        404: "Request not found",
        409: "Request is not pending",
    },
)
@_friends_route
async def accept(request: web.Request) -> web.Response:
    user = await require_user(request)
    fid = request.match_info["friendshipId"]
    return json_response(await _social(request).accept_request(user.id, fid))


@doc(
    "Decline or cancel a request (deletes the row)",
    tags=["friends"],
    auth=True,
    responses={200: SuccessSchema, 403: "Not authorised", 404: "Request not found"},
)
@_friends_route
async def decline(request: web.Request) -> web.Response:
    user = await require_user(request)
    fid = request.match_info["friendshipId"]
    return json_response(await _social(request).decline_request(user.id, fid))


@doc(
    "Remove a friend or request (a block only by its blocker)",
    tags=["friends"],
    auth=True,
    responses={200: SuccessSchema, 403: "Not authorised", 404: "Friendship not found"},
)
@_friends_route
async def remove(request: web.Request) -> web.Response:
    user = await require_user(request)
    fid = request.match_info["friendshipId"]
    return json_response(await _social(request).remove_friendship(user.id, fid))


@doc(
    "Block a user",
    tags=["friends"],
    auth=True,
    responses={
        200: BlockResultSchema,
        400: "Cannot block yourself / Invalid user id",
        404: "User not found",
    },
)
@_friends_route
async def block(request: web.Request) -> web.Response:
    user = await require_user(request)
    target = request.match_info["targetUserId"]
    return json_response(await _social(request).block(user.id, target))


@doc(
    "Lift the caller's block of a user",
    tags=["friends"],
    auth=True,
    responses={200: SuccessSchema, 400: "Invalid user id"},
)
@_friends_route
async def unblock(request: web.Request) -> web.Response:
    user = await require_user(request)
    target = request.match_info["targetUserId"]
    return json_response(await _social(request).unblock(user.id, target))


@doc(
    "Is there a block between the caller and a user?",
    tags=["friends"],
    auth=True,
    responses={200: BlockStatusSchema, 400: "Invalid user id"},
)
@_friends_route
async def block_status(request: web.Request) -> web.Response:
    user = await require_user(request)
    target = request.match_info["targetUserId"]
    return json_response(await _social(request).block_status(user.id, target))
