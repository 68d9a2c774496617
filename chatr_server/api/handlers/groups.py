"""``/api/groups`` handlers: authenticate, read the body, call the group services."""

from __future__ import annotations

from aiohttp import web

from chatr_server.api.multipart import FIELD_CAP, FormRules, read_form
from chatr_server.api.openapi import doc
from chatr_server.api.request import read_body, read_query, require_user
from chatr_server.api.schemas.common import ImageUrlSchema, SuccessSchema
from chatr_server.api.schemas.groups import (
    AddMemberSchema,
    GroupDetailSchema,
    GroupEnvelopeSchema,
    GroupHistoryQuerySchema,
    GroupInvitesSchema,
    GroupListSchema,
    GroupMessagesSchema,
    GroupWaveformSchema,
    LeaveResultSchema,
    TransferOwnershipSchema,
)
from chatr_server.api.schemas.messages import UploadResultSchema
from chatr_server.appkeys import SERVICES
from chatr_server.schemas.groups import CreateGroupSchema, UpdateGroupSchema
from chatr_server.services.group_roles import GroupRoleService
from chatr_server.services.group_uploads import MAX_FILE_BYTES, MAX_IMAGE_BYTES, GroupUploads
from chatr_server.services.groups import GroupService
from chatr_server.util.jsonx import json_response

TAGS = ["groups"]


def _groups(request: web.Request) -> GroupService:
    return request.app[SERVICES].groups


def _roles(request: web.Request) -> GroupRoleService:
    return request.app[SERVICES].group_roles


def _uploads(request: web.Request) -> GroupUploads:
    return request.app[SERVICES].group_uploads


# Any named text field is kept (the service reads the ones it knows).
GROUP_FORM = FormRules(
    fields=None,
    max_parts=33,
    too_many_parts="Too many form fields",
    slack=32 * FIELD_CAP,
    field_too_long="Form field {name} is too large",
    part_too_large=None,
)


@doc(
    "Create a group; memberIds are invited (pending)",
    tags=TAGS,
    auth=True,
    body=CreateGroupSchema,
    responses={200: GroupEnvelopeSchema, 400: "Group name is required", 404: "User not found"},
)
async def create_group(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await _groups(request).create(user.id, await read_body(request)))


@doc(
    "Groups the caller belongs to (accepted), with members and last message",
    tags=TAGS,
    auth=True,
    responses={200: GroupListSchema},
)
async def list_groups(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await _groups(request).list_for(user.id))


@doc(
    "Pending group invitations of the caller",
    tags=TAGS,
    auth=True,
    responses={200: GroupInvitesSchema},
)
async def list_invites(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await _groups(request).invites(user.id))


@doc(
    "Accept a group invitation",
    tags=TAGS,
    auth=True,
    responses={200: GroupEnvelopeSchema, 400: "Already a member", 404: "Invite not found"},
)
async def accept_invite(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await _groups(request).accept(user.id, request.match_info["id"]))


@doc(
    "Decline a group invitation (or withdraw a join request)",
    tags=TAGS,
    auth=True,
    responses={200: SuccessSchema, 400: "Already a member", 404: "Invite not found"},
)
async def decline_invite(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await _groups(request).decline(user.id, request.match_info["id"]))


@doc(
    "Group detail with all members and the caller's membership status",
    tags=TAGS,
    auth=True,
    responses={
        200: GroupDetailSchema,
        403: "Not a member of this group",
        404: "Group not found",
    },
)
async def get_group(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await _groups(request).detail(user.id, request.match_info["id"]))


@doc(
    "Group message history: the newest `limit` messages older than `before`, oldest first",
    tags=TAGS,
    auth=True,
    query=GroupHistoryQuerySchema,
    responses={
        200: GroupMessagesSchema,
        400: "Bad before",
        403: "Not a member",
        404: "Group not found",
    },
)
async def group_messages(request: web.Request) -> web.Response:
    user = await require_user(request)
    query = read_query(request)
    messages = await _groups(request).history(
        user.id, request.match_info["id"], query.get("limit"), query.get("before")
    )
    return json_response({"messages": messages})


@doc(
    "Invite a user (owner/admin); approves a pending join request",
    tags=TAGS,
    auth=True,
    body=AddMemberSchema,
    responses={
        200: GroupEnvelopeSchema,
        403: "Only admins can add members",
        404: "Group not found",
        409: "User is already a member",
    },
)
async def add_member(request: web.Request) -> web.Response:
    user = await require_user(request)
    body = await read_body(request)
    return json_response(await _groups(request).add_member(user.id, request.match_info["id"], body))


@doc(
    "Remove a member, revoke an invitation, or leave (own id)",
    tags=TAGS,
    auth=True,
    responses={200: SuccessSchema, 403: "Not allowed", 404: "Member not found in group"},
)
async def remove_member(request: web.Request) -> web.Response:
    user = await require_user(request)
    result = await _groups(request).remove_member(
        user.id, request.match_info["id"], request.match_info["memberId"]
    )
    return json_response(result)


@doc(
    "Rename or describe a group (owner/admin)",
    tags=TAGS,
    auth=True,
    body=UpdateGroupSchema,
    responses={
        200: GroupEnvelopeSchema,
        403: "Only admins can edit the group",
        404: "Group not found",
    },
)
async def update_group(request: web.Request) -> web.Response:
    user = await require_user(request)
    body = await read_body(request)
    return json_response(await _groups(request).update(user.id, request.match_info["id"], body))


@doc(
    "Delete a group and its files (owner)",
    tags=TAGS,
    auth=True,
    responses={200: SuccessSchema, 403: "Only owners can delete the group", 404: "Group not found"},
)
async def delete_group(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await _groups(request).delete(user.id, request.match_info["id"]))


@doc(
    "Ask to join a group",
    tags=TAGS,
    auth=True,
    description=(
        "Records a join request: a pending membership without inviter. The requester "
        "cannot accept it; an owner or admin approves it by inviting the user."
    ),
    responses={200: SuccessSchema, 404: "Group not found"},
)
async def join_group(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await _groups(request).join(user.id, request.match_info["id"]))


@doc(
    "Leave a group (the last owner hands over; the last member deletes it)",
    tags=TAGS,
    auth=True,
    responses={200: LeaveResultSchema, 404: "Group not found"},
)
async def leave_group(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await _groups(request).leave(user.id, request.match_info["id"]))


@doc(
    "Make a member an admin (owner/admin)",
    tags=TAGS,
    auth=True,
    responses={
        200: SuccessSchema,
        400: "Owners cannot be promoted",
        403: "Only admins can promote members",
        404: "Member not found",
    },
)
async def promote_member(request: web.Request) -> web.Response:
    user = await require_user(request)
    result = await _roles(request).promote(
        user.id, request.match_info["id"], request.match_info["memberId"]
    )
    return json_response(result)


@doc(
    "Make an admin a plain member (owner, or the admin themself)",
    tags=TAGS,
    auth=True,
    responses={
        200: SuccessSchema,
        400: "Cannot demote an owner. Use step-down instead.",
        403: "Only owners can remove admin",
        404: "Member not found",
    },
)
async def demote_member(request: web.Request) -> web.Response:
    user = await require_user(request)
    result = await _roles(request).demote(
        user.id, request.match_info["id"], request.match_info["memberId"]
    )
    return json_response(result)


@doc(
    "Make an admin a co-owner (owner)",
    tags=TAGS,
    auth=True,
    body=TransferOwnershipSchema,
    responses={
        200: SuccessSchema,
        400: "newOwnerId is required",
        403: "Only owners can promote to owner",
        404: "Member not found",
    },
)
async def transfer_ownership(request: web.Request) -> web.Response:
    user = await require_user(request)
    body = await read_body(request)
    result = await _roles(request).transfer_ownership(user.id, request.match_info["id"], body)
    return json_response(result)


@doc(
    "Step down from owner to admin (needs another owner)",
    tags=TAGS,
    auth=True,
    responses={
        200: SuccessSchema,
        400: "You are the only owner",
        403: "Only owners can step down",
        404: "Group not found",
    },
)
async def step_down(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await _roles(request).step_down(user.id, request.match_info["id"]))


@doc(
    "Upload a file to a group (multipart: file, type, waveform, duration, caption)",
    tags=TAGS,
    auth=True,
    upload="file",
    form={
        "type": "message type (default from the file)",
        "waveform": "JSON array of amplitudes (voice notes)",
        "duration": "seconds (voice notes)",
        "caption": "text shown with the file",
    },
    description="`file` ≤ 50 MB; the type must be allowed and match the content.",
    responses={
        200: UploadResultSchema,
        400: "No file uploaded",
        403: "Not a member of this group",
        404: "Group not found",
        413: "File too large",
        415: "File type not allowed",
    },
)
async def upload_file(request: web.Request) -> web.Response:
    user = await require_user(request)
    uploads = _uploads(request)
    group_id = request.match_info["id"]
    await uploads.require_sender(user.id, group_id)
    upload, fields = await read_form(request, "file", MAX_FILE_BYTES, GROUP_FORM)
    return json_response(await uploads.upload_file(user.id, group_id, upload, fields))


async def _set_image(request: web.Request, kind: str, field: str) -> web.Response:
    user = await require_user(request)
    uploads = _uploads(request)
    group_id = request.match_info["id"]
    await uploads.require_image_editor(user.id, group_id, kind)
    upload, _ = await read_form(request, field, MAX_IMAGE_BYTES, GROUP_FORM)
    return json_response(await uploads.set_image(user.id, group_id, kind, upload))


@doc(
    "Set the group avatar (multipart field profileImage, ≤ 10 MB; owner/admin)",
    tags=TAGS,
    auth=True,
    upload="profileImage",
    responses={
        200: ImageUrlSchema,
        400: "No file uploaded",
        403: "Only admins can change the group avatar",
        404: "Group not found",
        413: "File too large",
        415: "File type not allowed",
    },
)
async def set_profile_image(request: web.Request) -> web.Response:
    return await _set_image(request, "profile", "profileImage")


@doc(
    "Set the group cover (multipart field coverImage, ≤ 10 MB; owner/admin)",
    tags=TAGS,
    auth=True,
    upload="coverImage",
    responses={
        200: ImageUrlSchema,
        400: "No file uploaded",
        403: "Only admins can change the group cover image",
        404: "Group not found",
        413: "File too large",
        415: "File type not allowed",
    },
)
async def set_cover_image(request: web.Request) -> web.Response:
    return await _set_image(request, "cover", "coverImage")


@doc(
    "Remove the group avatar (owner/admin)",
    tags=TAGS,
    auth=True,
    responses={
        200: SuccessSchema,
        403: "Only admins can change the group avatar",
        404: "Group not found",
    },
)
async def delete_profile_image(request: web.Request) -> web.Response:
    user = await require_user(request)
    result = await _uploads(request).delete_image(user.id, request.match_info["id"], "profile")
    return json_response(result)


@doc(
    "Remove the group cover (owner/admin)",
    tags=TAGS,
    auth=True,
    responses={
        200: SuccessSchema,
        403: "Only admins can change the group cover image",
        404: "Group not found",
    },
)
async def delete_cover_image(request: web.Request) -> web.Response:
    user = await require_user(request)
    result = await _uploads(request).delete_image(user.id, request.match_info["id"], "cover")
    return json_response(result)


@doc(
    "Store a voice message's waveform (the message's sender only)",
    tags=TAGS,
    auth=True,
    body=GroupWaveformSchema,
    responses={
        200: SuccessSchema,
        400: "waveform array required",
        403: "Not a member / Access denied",
        404: "Message not found",
    },
)
async def update_waveform(request: web.Request) -> web.Response:
    user = await require_user(request)
    body = await read_body(request)
    result = await _groups(request).update_waveform(
        user.id, request.match_info["id"], request.match_info["msgId"], body
    )
    return json_response(result)
