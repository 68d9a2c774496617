"""``/api/test/*``: e2e-suite helpers, alive only while test mode is on.

They answer 404 unless the operator started the server with
``CHATR_TEST_MODE=1`` outside production, exactly as if they did not exist.
"""

from __future__ import annotations

from aiohttp import web
from marshmallow import Schema, fields

from chatr_server.api.openapi import doc
from chatr_server.api.request import read_body, require_user
from chatr_server.api.schemas.common import OkSchema
from chatr_server.appkeys import SERVICES
from chatr_server.errors import ServiceError, bad_request, not_found
from chatr_server.services.dependencies import is_dependency_outage
from chatr_server.services.testdata import TestDataService
from chatr_server.util.ids import parse_uuid
from chatr_server.util.jsonx import json_response
from chatr_server.util.validation import StrictBoolean, Trimmed, required

_ENABLED = required("enabled (boolean) required")


class TestModeSchema(Schema):
    __test__ = False
    enabled = StrictBoolean(required=True, error_messages=_ENABLED)


class CleanupSchema(Schema):
    recipientId = Trimmed(
        required=True, blank="recipientId required", error_messages=required("recipientId required")
    )


class RestoreImagesSchema(Schema):
    profileImage = fields.String(allow_none=True)
    coverImage = fields.String(allow_none=True)


class TestModeResultSchema(Schema):
    __test__ = False
    ok = fields.Boolean()
    testMode = fields.Boolean()


def _data(request: web.Request) -> TestDataService:
    data = request.app[SERVICES].testdata
    if data is None:  # test mode not allowed on this server
        raise not_found("Not found")
    return data


async def _require_on(request: web.Request) -> None:
    if not await request.app[SERVICES].test_mode.is_on():
        raise not_found("Not found")


@doc(
    "Switch test mode (only when the server allows it)",
    tags=["test"],
    body=TestModeSchema,
    responses={200: TestModeResultSchema, 404: "Not available"},
)
async def set_mode(request: web.Request) -> web.Response:
    test_mode = request.app[SERVICES].test_mode
    if not test_mode.allowed:
        raise not_found("Not found")
    enabled = (await read_body(request))["enabled"]
    await test_mode.set(enabled)
    return json_response({"ok": True, "testMode": enabled})


@doc(
    "Delete the caller's e2e messages with one recipient and e2e groups",
    tags=["test"],
    auth=True,
    body=CleanupSchema,
    responses={200: "Counts", 404: "Test mode off"},
)
async def cleanup(request: web.Request) -> web.Response:
    await _require_on(request)
    user = await require_user(request)
    recipient_id = parse_uuid((await read_body(request))["recipientId"])
    if recipient_id is None:
        raise bad_request("recipientId must be a user id")
    try:
        return json_response(await _data(request).cleanup_pair(user.id, recipient_id))
    except ServiceError:
        raise
    except Exception as exc:
        if is_dependency_outage(exc):
            raise  # the error middleware answers 503
        raise ServiceError(500, "Cleanup failed") from exc


@doc("Delete every e2e group", tags=["test"], responses={200: "Counts", 404: "Test mode off"})
async def cleanup_all(request: web.Request) -> web.Response:
    await _require_on(request)
    return json_response(await _data(request).cleanup_all())


@doc(
    "Write profile/cover image URLs back",
    tags=["test"],
    auth=True,
    body=RestoreImagesSchema,
    responses={200: OkSchema, 404: "Test mode off"},
)
async def restore_images(request: web.Request) -> web.Response:
    await _require_on(request)
    user = await require_user(request)
    body = await read_body(request)
    return json_response(await _data(request).restore_images(user.id, body))


@doc(
    "Delete a user and everything of theirs",
    tags=["test"],
    responses={200: OkSchema, 404: "Test mode off"},
)
async def delete_user(request: web.Request) -> web.Response:
    await _require_on(request)
    user_id = parse_uuid(request.match_info["userId"])
    if user_id is None:
        return json_response({"ok": True})
    return json_response(await _data(request).delete_user(user_id))
