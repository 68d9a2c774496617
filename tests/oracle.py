"""The declared schemas as the tests' oracle: responses and socket events must fit them.

:func:`mismatches` checks JSON data against a marshmallow schema strictly: no
undeclared key, every ``required`` field present, each value of its field's
JSON type (``null`` only where ``allow_none``). The make_client fixture runs
it on every JSON response (against the route's declared schema for that
status); the RecordingBus and the test socket client run it on every event.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from aiohttp import web
from marshmallow import Schema, fields

from chatr_server.api.openapi import declaration
from chatr_server.eventschemas import ARRAYS, EVENTS, TEXTS


def _field(spec: fields.Field, value: Any, where: str) -> list[str]:
    if value is None:
        return [] if spec.allow_none else [f"{where}: null"]
    if isinstance(spec, fields.Nested):
        return mismatches(spec.schema, value, where)
    if isinstance(spec, fields.List):
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        return [
            e for i, item in enumerate(value) for e in _field(spec.inner, item, f"{where}[{i}]")
        ]
    if isinstance(spec, fields.UUID):
        try:
            uuid.UUID(value)
        except (TypeError, ValueError, AttributeError):
            return [f"{where}: not a UUID: {value!r}"]
        return []
    expected: type | tuple[type, ...] | None = None
    if isinstance(spec, fields.String):
        expected = str
    elif isinstance(spec, fields.Boolean):
        expected = bool
    elif isinstance(spec, fields.Integer):
        expected = int
    elif isinstance(spec, fields.Number):
        expected = (int, float)
    elif isinstance(spec, fields.Dict):
        expected = dict
    if expected is None:
        return []
    if isinstance(value, bool) and expected is not bool:
        return [f"{where}: {value!r} is not {expected}"]
    return [] if isinstance(value, expected) else [f"{where}: {value!r} is not {expected}"]


def mismatches(schema: Schema | type[Schema], data: Any, where: str = "$") -> list[str]:
    """Every way ``data`` departs from ``schema`` (empty when it fits)."""
    if isinstance(schema, type):
        schema = schema()
    if schema.many:
        if not isinstance(data, list):
            return [f"{where}: not a list"]
        single = type(schema)()
        return [e for i, item in enumerate(data) for e in mismatches(single, item, f"{where}[{i}]")]
    if not isinstance(data, dict):
        return [f"{where}: not an object: {data!r}"]
    declared = {spec.data_key or name: spec for name, spec in schema.fields.items()}
    errors = [f"{where}.{key}: undeclared" for key in data if key not in declared]
    for key, spec in declared.items():
        if key not in data:
            if spec.required:
                errors.append(f"{where}.{key}: missing")
            continue
        errors += _field(spec, data[key], f"{where}.{key}")
    return errors


def response_mismatches(request: web.Request, status: int, data: Any) -> list[str]:
    """How a route's JSON answer departs from the schema it declares for ``status``."""
    route = request.match_info.route
    meta = declaration(route.handler)
    if meta is None:
        return []
    declared = meta["responses"].get(status)
    if isinstance(declared, list):  # a bare array of the one schema
        return mismatches(declared[0](many=True), data)
    if isinstance(declared, type) and issubclass(declared, Schema):
        return mismatches(declared, data)
    if status >= 400:
        # Errors are {"error": text} (or {"message": text} on the friends routes), plus
        # the few extra keys a ServiceError carries.
        if not isinstance(data, dict) or not any(
            isinstance(data.get(k), str) for k in ("error", "message")
        ):
            return [f"error body without an error text: {data!r}"]
    return []


def watch_responses(app: web.Application, violations: list[str]) -> None:
    """Check every JSON response ``app`` sends against its route's schema, into ``violations``."""

    async def check(request: web.Request, response: web.StreamResponse) -> None:
        body = getattr(response, "body", None)
        if response.content_type != "application/json" or not isinstance(body, bytes):
            return
        problems = response_mismatches(request, response.status, orjson.loads(body))
        violations.extend(
            f"{request.method} {request.path} -> {response.status}: {p}" for p in problems
        )

    app.on_response_prepare.append(check)


def event_mismatches(event: str, payload: Any) -> list[str]:
    """How a server-to-client event's payload departs from its registered schema."""
    schema = EVENTS.get(event)
    if schema is None:
        return [f"{event}: no schema registered"]
    if event in TEXTS and isinstance(payload, str):
        return []
    if event in ARRAYS:
        if not isinstance(payload, list):
            return [f"{event}: not an array: {payload!r}"]
        return [f"{event} {e}" for e in mismatches(schema(many=True), payload)]
    return [f"{event} {e}" for e in mismatches(schema, payload)]
