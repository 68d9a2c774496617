"""Declaring is enforcing: every route's body and query go through the schema it declares.

Walks the real router. Statically, no handler reads a body or a query string
other than through ``read_body``/``read_query`` (which load the declared
schema), and every route declaring one is wrapped so it cannot answer
without having read it. Dynamically, each such route, called with a valid
token, loads its input with exactly the schema it declares, and refuses a
body that breaks that schema with a 400.
"""

from __future__ import annotations

import inspect
import uuid
from typing import Any

import pytest
from marshmallow import Schema, fields

from chatr_server.api import request as api_request
from chatr_server.api.openapi import declaration
from chatr_server.appkeys import SERVICES
from tests.helpers import make_user

#: Routes that read their query string without the API's declaration, and why.
UNDECLARED_READERS = {
    "/uploads/{path}": "static files (not in the API document); exp/sig of a signed URL",
}


def _routes(app: Any) -> list[tuple[str, str, Any, dict[str, Any]]]:
    found = []
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        meta = declaration(route.handler)
        if meta is not None:
            found.append((route.method, route.resource.canonical, route.handler, meta))
    return found


def _source(handler: Any) -> str:
    return inspect.getsource(inspect.unwrap(handler))


async def test_no_handler_reads_input_around_its_declaration(client):
    """REST handlers (the Engine.IO endpoint speaks its own protocol) read input only as declared."""
    for route in client.server.app.router.routes():
        if route.resource is None or route.resource.canonical in UNDECLARED_READERS:
            continue
        if not inspect.unwrap(route.handler).__module__.startswith("chatr_server.api.handlers"):
            continue
        source = _source(route.handler)
        where = f"{route.method} {route.resource.canonical}"
        assert "request.query" not in source, f"{where} reads the query string undeclared"
        assert "read_json(" not in source, f"{where} reads its body undeclared"
        assert "request.json(" not in source and "request.post(" not in source, where


async def test_every_declared_input_is_enforced_by_a_wrapper(client):
    routes = _routes(client.server.app)
    declaring = [(m, p, h) for m, p, h, meta in routes if meta["body"] or meta["query"]]
    assert len(declaring) >= 30  # the API's JSON bodies and query strings
    for method, path, handler in declaring:
        assert inspect.unwrap(handler) is not handler, f"{method} {path} is not enforced"


def _bad_value(field: fields.Field) -> Any:
    """A JSON value ``field`` refuses (``...`` when it takes anything)."""
    if isinstance(field, fields.Raw) and type(field) is fields.Raw:
        return ...
    if isinstance(field, (fields.List, fields.Dict, fields.Number, fields.Boolean)):
        return "not-that"
    return {"not": "a string"}


def _breaking_body(schema: type[Schema]) -> dict[str, Any] | None:
    for name, field in schema._declared_fields.items():
        value = _bad_value(field)
        if value is not ...:
            return {field.data_key or name: value}
    return None


@pytest.fixture
async def caller(client):
    """A support user (the admin routes check the role before reading input)."""
    user = await make_user(client)
    pool = client.server.app[SERVICES].pool
    await pool.execute("UPDATE users SET is_support = true WHERE id = $1", user.id)
    yield user
    await pool.execute("UPDATE users SET is_support = false WHERE id = $1", user.id)


async def test_each_route_loads_and_enforces_exactly_its_declared_schemas(
    client, caller, monkeypatch, server_errors
):
    loaded: list[type[Schema]] = []
    real_validate = api_request.validate

    def spy(schema: Schema, data: Any) -> dict[str, Any]:
        loaded.append(type(schema))
        return real_validate(schema, data)

    monkeypatch.setattr(api_request, "validate", spy)
    await client.post("/api/test/mode", json={"enabled": True})
    for method, path, _, meta in _routes(client.server.app):
        if not (meta["body"] or meta["query"]):
            continue
        url = path
        for name in [p.split("}")[0] for p in path.split("{")[1:]]:
            url = url.replace(f"{{{name}}}", str(uuid.uuid4()))
        where = f"{method} {path}"
        loaded.clear()
        resp = await client.request(method, url, headers=caller.auth, json={})
        assert resp.status < 500, where
        expected = [s for s in (meta["query"], meta["body"]) if s is not None]
        assert sorted(loaded, key=id) == sorted(expected, key=id), where
        body = _breaking_body(meta["body"]) if meta["body"] else None
        if body is not None:
            resp = await client.request(method, url, headers=caller.auth, json=body)
            assert resp.status == 400, (where, body, await resp.text())
    assert not server_errors
