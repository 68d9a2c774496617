"""The schema oracle itself: what it lets through and what it reports."""

from __future__ import annotations

import uuid

from marshmallow import Schema, fields

from chatr_server.api.schemas.common import complete
from chatr_server.eventschemas import EVENTS
from tests.oracle import event_mismatches, mismatches


@complete("note")
class CardSchema(Schema):
    id = fields.UUID()
    name = fields.String(allow_none=True)
    count = fields.Integer()
    ratio = fields.Float()
    tags = fields.List(fields.String())
    note = fields.String()


class WrapperSchema(Schema):
    card = fields.Nested(CardSchema)


def card(**changes):
    base = {"id": str(uuid.uuid4()), "name": None, "count": 1, "ratio": 2, "tags": ["a"]}
    return {**base, **changes}


def test_a_fitting_payload_passes():
    assert mismatches(CardSchema, card()) == []
    assert mismatches(CardSchema, card(note="optional, present")) == []
    assert mismatches(WrapperSchema, {"card": card()}) == []


def test_each_departure_is_reported():
    assert mismatches(CardSchema, card(extra=1)) == ["$.extra: undeclared"]
    without = card()
    del without["count"]
    assert mismatches(CardSchema, without) == ["$.count: missing"]
    assert mismatches(CardSchema, card(id="nope")) == ["$.id: not a UUID: 'nope'"]
    assert mismatches(CardSchema, card(count=True))  # a bool is no integer
    assert mismatches(CardSchema, card(count=1.5))
    assert mismatches(CardSchema, card(tags=[1]))
    assert mismatches(CardSchema, card(note=None)) == ["$.note: null"]
    assert mismatches(WrapperSchema, {"card": card(ratio="2")}) != []
    assert mismatches(CardSchema, [card()])[0].startswith("$: not an object")


def test_events_are_checked_against_the_registry():
    ids = {"groupId": str(uuid.uuid4()), "memberId": str(uuid.uuid4())}
    assert event_mismatches("group:memberLeft", ids) == []
    assert event_mismatches("group:memberLeft", {**ids, "secret": 1}) == [
        "group:memberLeft $.secret: undeclared"
    ]
    assert event_mismatches("made:up", {}) == ["made:up: no schema registered"]
    assert event_mismatches("error", "Not authorised") == []  # a bare text is allowed
    online = [{"userId": ids["groupId"], "status": "online", "lastSeen": None, "hidden": False}]
    assert event_mismatches("presence:response", online) == []
    assert event_mismatches("presence:response", online[0]) != []


def test_complete_leaves_base_classes_alone():
    class Base(Schema):
        a = fields.String()

    @complete()
    class Derived(Base):
        b = fields.String()

    assert not Base._declared_fields["a"].required
    assert Derived._declared_fields["a"].required and Derived._declared_fields["b"].required
    assert "group:message" in EVENTS
