"""Streaming ``multipart/form-data`` reader shared by every upload route.

Bodies are read part by part and every part is capped while it streams, so an
oversized upload is refused (413) after at most its cap in memory, never after
buffering it whole. The app-wide ``client_max_size`` does not apply here.

What differs between routes (which text fields they keep, how many parts they
allow, the wording of their refusals) is a :class:`FormRules`; the file part's
name and size cap are passed per call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aiohttp import BodyPartReader, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from chatr_server.errors import ServiceError, bad_request
from chatr_server.services.dependencies import INVALID_INPUT
from chatr_server.services.upload_policy import MB, UploadedFile

CHUNK = 64 * 1024
# Text fields, and parts that are dropped, are capped at this size.
FIELD_CAP = 64 * 1024
# What aiohttp's multipart reader raises on a broken body.
_MALFORMED = (ValueError, LookupError, AssertionError, HttpProcessingError)


@dataclass(frozen=True, slots=True)
class FormRules:
    """What one route keeps from a multipart body, and how it words its refusals."""

    #: Text fields kept (name → cap; the first of a name wins); ``None`` keeps
    #: every named field up to :data:`FIELD_CAP` (the last of a name wins).
    fields: Mapping[str, int] | None = field(default_factory=dict)
    max_parts: int = 16
    #: 400 text past ``max_parts``; ``None`` ignores the rest of the body.
    too_many_parts: str | None = "Too many form parts (max 16)"
    #: A declared Content-Length above the file cap plus this is refused unread.
    slack: int | None = 256 * 1024
    #: 400 text for a kept field over its cap.
    field_too_long: str = "{name} is too long"
    #: 413 text for a dropped part over :data:`FIELD_CAP`; ``None`` drains it uncapped.
    part_too_large: str | None = "Form part too large"
    #: 400 text for a nested multipart part; ``None`` skips it.
    nested: str | None = "Nested multipart bodies are not supported"


def too_large(limit: int) -> ServiceError:
    return ServiceError(413, f"File too large (max {limit // MB} MB)")


async def _read_capped(part: BodyPartReader, limit: int, error: ServiceError) -> bytes:
    buffer = bytearray()
    while chunk := await part.read_chunk(CHUNK):
        buffer += chunk
        if len(buffer) > limit:
            raise error
    return bytes(buffer)


async def read_form(
    request: web.Request, file_field: str, max_file: int, rules: FormRules
) -> tuple[UploadedFile | None, dict[str, str]]:
    """The first file part named ``file_field`` and the text fields ``rules`` keeps.

    No file (``None``) when the body is not ``multipart/form-data`` or has no
    such part; the service then answers "No file uploaded".
    """
    if (
        rules.slack is not None
        and request.content_length is not None
        and request.content_length > max_file + rules.slack
    ):
        raise too_large(max_file)
    if request.content_type != "multipart/form-data":
        return None, {}
    try:
        return await _parse_parts(request, file_field, max_file, rules)
    except _MALFORMED:
        raise bad_request("Malformed multipart body") from None


async def _parse_parts(
    request: web.Request, file_field: str, max_file: int, rules: FormRules
) -> tuple[UploadedFile | None, dict[str, str]]:
    reader = await request.multipart()
    upload: UploadedFile | None = None
    fields: dict[str, str] = {}
    for _ in range(rules.max_parts):
        part = await reader.next()
        if part is None:
            return upload, fields
        if not isinstance(part, BodyPartReader):
            if rules.nested is not None:
                raise bad_request(rules.nested)
            continue
        name = part.name
        if "\x00" in (name or "") or "\x00" in (part.filename or ""):
            raise bad_request(INVALID_INPUT)  # PostgreSQL text cannot hold NUL
        if part.filename is not None and name == file_field and upload is None:
            data = await _read_capped(part, max_file, too_large(max_file))
            upload = UploadedFile(part.filename, part.headers.get(hdrs.CONTENT_TYPE, ""), data)
        elif part.filename is None and name and _keeps(rules, name, fields):
            cap = FIELD_CAP if rules.fields is None else rules.fields[name]
            error = bad_request(rules.field_too_long.format(name=name))
            value = (await _read_capped(part, cap, error)).decode("utf-8", "replace")
            if "\x00" in value:
                raise bad_request(INVALID_INPUT)
            fields[name[:64]] = value
        elif rules.part_too_large is not None:
            await _read_capped(part, FIELD_CAP, ServiceError(413, rules.part_too_large))
        else:
            await part.release()
    if rules.too_many_parts is not None:
        raise bad_request(rules.too_many_parts)
    return upload, fields


def _keeps(rules: FormRules, name: str, fields: dict[str, str]) -> bool:
    if rules.fields is None:
        return True
    return name in rules.fields and name not in fields
