"""Identifiers from client input: parsed strictly, never raising."""

from __future__ import annotations

import uuid

import pytest

from chatr_server.util.ids import parse_uuid, uuid_text

CANONICAL = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"


@pytest.mark.parametrize(
    "value",
    [
        CANONICAL,
        CANONICAL.upper(),
        CANONICAL.replace("-", ""),
        "{" + CANONICAL + "}",
        "urn:uuid:" + CANONICAL,
        uuid.UUID(CANONICAL),
    ],
)
def test_uuid_text_gives_the_canonical_spelling(value):
    assert uuid_text(value) == CANONICAL
    assert parse_uuid(value) == uuid.UUID(CANONICAL)


@pytest.mark.parametrize(
    "value",
    [None, "", "not-a-uuid", CANONICAL[:-1] + "g", CANONICAL + "0", 42, ["x"], "a" * 10_000],
)
def test_uuid_text_refuses_what_is_not_a_uuid(value):
    assert uuid_text(value) is None
    assert parse_uuid(value) is None
