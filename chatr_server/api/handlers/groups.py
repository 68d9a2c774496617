"""``/api/groups`` handlers: authenticate, read the body, call the group services."""

from __future__ import annotations

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from chatr_server.api.openapi import doc
from chatr_server.api.request import read_json, require_user
from chatr_server.api.schemas.groups import (
    AddMemberSchema,
    CreateGroupSchema,
    GroupDetailSchema,
    GroupEnvelopeSchema,
    GroupInvitesSchema,
    GroupListSchema,
    GroupMessagesSchema,
    GroupUploadResultSchema,
    GroupWaveformSchema,
    ImageUrlSchema,
    LeaveResultSchema,
    SuccessSchema,
    TransferOwnershipSchema,
    UpdateGroupSchema,
)
from chatr_server.appkeys import SERVICES
from chatr_server.errors import ServiceError, bad_request
from chatr_server.services.group_uploads import (
    MAX_FILE_BYTES,
    MAX_IMAGE_BYTES,
    GroupUploads,
    UploadedFile,
)
from chatr_server.services.groups import GroupService
from chatr_server.util.jsonx import json_response

TAGS = ["groups"]
MAX_FORM_FIELD_BYTES = 64 * 1024
MAX_FORM_PARTS = 32
CHUNK = 256 * 1024


def _groups(request: web.Request) -> GroupService:
    return request.app[SERVICES].groups


def _uploads(request: web.Request) -> GroupUploads:
    return request.app[SERVICES].group_uploads


async def _read_part(part: BodyPartReader, limit: int, too_large: ServiceError) -> bytes:
    """A part's bytes, refusing as soon as it grows past ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(CHUNK):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def read_upload(request: web.Request, file_field: str, max_bytes: int) -> UploadedFile | None:
    """Stream a ``multipart/form-data`` body: the first ``file_field`` file plus text fields.

    Returns ``None`` when there is no such file part. The file is capped at
    ``max_bytes`` (413 beyond), text fields at 64 KB each.
    """
    if request.content_type != "multipart/form-data":
        return None
    too_large = ServiceError(413, f"File too large (max {max_bytes // (1024 * 1024)} MB)")
    slack = MAX_FORM_PARTS * MAX_FORM_FIELD_BYTES
    if request.content_length is not None and request.content_length > max_bytes + slack:
        raise too_large
    fields: dict[str, str] = {}
    upload: UploadedFile | None = None
    try:
        reader = await request.multipart()
        for _ in range(MAX_FORM_PARTS + 1):
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                raise bad_request("Nested multipart bodies are not supported")
            if part.filename is not None:
                if part.name == file_field and upload is None:
                    data = await _read_part(part, max_bytes, too_large)
                    content_type = part.headers.get("Content-Type", "")
                    upload = UploadedFile(part.filename, content_type, data)
                else:
                    await part.release()
            elif part.name:
                raw = await _read_part(
                    part, MAX_FORM_FIELD_BYTES, bad_request(f"Form field {part.name} is too large")
                )
                fields[part.name[:64]] = raw.decode("utf-8", "replace")
        else:
            raise bad_request("Too many form fields")
    except (ValueError, AssertionError, LookupError, HttpProcessingError):
        raise bad_request("Malformed multipart body") from None
    if upload is not None:
        upload.fields = fields
    return upload


@doc(
    "Create a group; memberIds are invited (pending)",
    tags=TAGS,
    auth=True,
    body=CreateGroupSchema,
    responses={200: GroupEnvelopeSchema, 400: "Group name is required", 404: "User not found"},
)
async def create_group(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await _groups(request).create(user.id, await read_json(request)))


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
    query={"limit": "1..100, default 50", "before": "ISO timestamp (exclusive)"},
    responses={200: GroupMessagesSchema, 400: "Bad before", 403: "Not a member"},
)
async def group_messages(request: web.Request) -> web.Response:
    user = await require_user(request)
    messages = await _groups(request).history(
        user.id,
        request.match_info["id"],
        request.query.get("limit"),
        request.query.get("before"),
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
    body = await read_json(request)
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
    responses={200: GroupEnvelopeSchema, 403: "Only admins can edit the group"},
)
async def update_group(request: web.Request) -> web.Response:
    user = await require_user(request)
    body = await read_json(request)
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
    result = await _groups(request).promote(
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
    result = await _groups(request).demote(
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
    body = await read_json(request)
    result = await _groups(request).transfer_ownership(user.id, request.match_info["id"], body)
    return json_response(result)


@doc(
    "Step down from owner to admin (needs another owner)",
    tags=TAGS,
    auth=True,
    responses={200: SuccessSchema, 400: "You are the only owner", 403: "Only owners can step down"},
)
async def step_down(request: web.Request) -> web.Response:
    user = await require_user(request)
    return json_response(await _groups(request).step_down(user.id, request.match_info["id"]))


@doc(
    "Upload a file to a group (multipart: file, type, waveform, duration, caption)",
    tags=TAGS,
    auth=True,
    description="`file` ≤ 50 MB; the type must be allowed and match the content.",
    responses={
        200: GroupUploadResultSchema,
        400: "No file uploaded",
        403: "Not a member of this group",
        413: "File too large",
        415: "File type not allowed",
    },
)
async def upload_file(request: web.Request) -> web.Response:
    user = await require_user(request)
    uploads = _uploads(request)
    group_id = request.match_info["id"]
    await uploads.require_sender(user.id, group_id)
    upload = await read_upload(request, "file", MAX_FILE_BYTES)
    return json_response(await uploads.upload_file(user.id, group_id, upload))


async def _set_image(request: web.Request, kind: str, field: str) -> web.Response:
    user = await require_user(request)
    uploads = _uploads(request)
    group_id = request.match_info["id"]
    await uploads.require_image_editor(user.id, group_id, kind)
    upload = await read_upload(request, field, MAX_IMAGE_BYTES)
    return json_response(await uploads.set_image(user.id, group_id, kind, upload))


@doc(
    "Set the group avatar (multipart field profileImage, ≤ 10 MB; owner/admin)",
    tags=TAGS,
    auth=True,
    responses={
        200: ImageUrlSchema,
        400: "No file uploaded",
        403: "Only admins can change the group avatar",
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
    responses={
        200: ImageUrlSchema,
        400: "No file uploaded",
        403: "Only admins can change the group cover image",
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
    responses={200: SuccessSchema, 403: "Only admins can change the group avatar"},
)
async def delete_profile_image(request: web.Request) -> web.Response:
    user = await require_user(request)
    result = await _uploads(request).delete_image(user.id, request.match_info["id"], "profile")
    return json_response(result)


@doc(
    "Remove the group cover (owner/admin)",
    tags=TAGS,
    auth=True,
    responses={200: SuccessSchema, 403: "Only admins can change the group cover image"},
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
    body = await read_json(request)
    result = await _groups(request).update_waveform(
        user.id, request.match_info["id"], request.match_info["msgId"], body
    )
    return json_response(result)
