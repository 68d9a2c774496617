"""``GET /api/messages/:id/edits``: the edit history of a direct message."""

from __future__ import annotations

from aiohttp import web
from marshmallow import Schema, fields

from chatr_server.api.openapi import doc
from chatr_server.api.request import require_user
from chatr_server.appkeys import SERVICES
from chatr_server.util.ids import parse_uuid
from chatr_server.util.jsonx import json_response


class EditorSchema(Schema):
    id = fields.UUID()
    username = fields.String()
    displayName = fields.String(allow_none=True)


class EditSchema(Schema):
    id = fields.UUID()
    previousContent = fields.String()
    editedAt = fields.String()
    editedBy = fields.Nested(EditorSchema)


class EditHistorySchema(Schema):
    messageId = fields.UUID()
    edits = fields.List(fields.Nested(EditSchema))


@doc(
    "Edit history of a direct message (participants only)",
    tags=["messages"],
    auth=True,
    responses={200: EditHistorySchema, 403: "Not a participant", 404: "Message not found"},
)
async def edit_history(request: web.Request) -> web.Response:
    user = await require_user(request)
    message_id = parse_uuid(request.match_info["id"])
    actions = request.app[SERVICES].message_actions
    return json_response(await actions.edit_history(user.id, message_id))
