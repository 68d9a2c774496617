"""Group bodies shared by ``POST``/``PATCH /api/groups`` and ``groups:create``/``groups:update``.

The service gets them loaded (trimmed, checked); it parses no dict by hand.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from chatr_server.util.validation import Trimmed, Verbatim, required

MAX_NAME = 100
MAX_DESCRIPTION = 500
MAX_INVITEES = 100


def _name(**kwargs: object) -> Trimmed:
    too_long = Verbatim(f"Group name must be at most {MAX_NAME} characters")
    return Trimmed(validate=validate.Length(max=MAX_NAME, error=too_long), **kwargs)  # type: ignore[arg-type]


def _description() -> Trimmed:
    return Trimmed(allow_none=True, validate=validate.Length(max=MAX_DESCRIPTION))


class CreateGroupSchema(Schema):
    name = _name(
        required=True,
        blank="Group name is required",
        error_messages=required("Group name is required", "name must be a string"),
    )
    description = _description()
    memberIds = fields.List(
        Trimmed(),
        load_default=list,
        validate=validate.Length(
            max=MAX_INVITEES,
            error=Verbatim(f"At most {MAX_INVITEES} members can be invited at once"),
        ),
    )


class UpdateGroupSchema(Schema):
    # Absent keys stay unchanged; a null or blank name keeps the old one, a null
    # or blank description clears it.
    name = _name(allow_none=True)
    description = _description()
