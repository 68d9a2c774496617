"""OpenAPI 3 description of the REST API, built from route metadata at start-up.

Handlers carry their documentation with :func:`doc` (summary, request and
response marshmallow schemas, whether a bearer token is needed); the spec is
generated from the router, so a route cannot exist without appearing here.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from chatr_server import __version__
from chatr_server.appkeys import SETTINGS
from chatr_server.services.dependencies import INVALID_INPUT, UNAVAILABLE

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
_ATTR = "__chatr_openapi__"

# Statuses every operation of a kind can answer, so no route has to repeat them;
# a route's own wording for the same status wins.
#: any operation with a bearer token (``require_user``): none, or a bad one.
AUTH_RESPONSES: dict[int, str] = {
    401: "Access token required",
    403: "Invalid, expired or revoked token",
}
#: any operation with a path, query or body parameter: a value it cannot take.
INPUT_RESPONSES: dict[int, str] = {400: INVALID_INPUT}
#: any operation with a JSON body (``max_json_body``).
BODY_RESPONSES: dict[int, str] = {413: "Request body too large"}
#: any operation that reads PostgreSQL or Redis: one of them is unreachable
#: (with ``Retry-After``).
OUTAGE_RESPONSES: dict[int, str] = {503: UNAVAILABLE}


def doc(
    summary: str,
    *,
    tags: list[str],
    body: type[Schema] | None = None,
    responses: dict[int, type[Schema] | list[type[Schema]] | str] | None = None,
    auth: bool = False,
    query: type[Schema] | None = None,
    upload: str | None = None,
    form: dict[str, str] | None = None,
    required: tuple[str, ...] = (),
    description: str | None = None,
    dependencies: bool = True,
) -> Callable[[F], F]:
    """Attach OpenAPI metadata to a handler.

    Declaring is enforcing: ``body`` (the JSON body) and ``query`` (the query
    string) are marshmallow schemas the handler reads its input through
    (``read_body``/``read_query`` of :mod:`chatr_server.api.request`);
    a handler that answers without having read a declared input is a bug and
    fails loudly. A response given as ``[Schema]`` is a bare JSON array of
    them. ``upload`` is the file part of a ``multipart/form-data`` body
    (always required) and ``form`` its text fields; form fields named in
    ``required`` are marked required. ``dependencies=False`` says the operation
    answers without PostgreSQL and Redis. The statuses of :data:`AUTH_RESPONSES`,
    :data:`INPUT_RESPONSES`, :data:`BODY_RESPONSES` and :data:`OUTAGE_RESPONSES`
    are added where they apply.
    """
    unknown = set(required) - set(form or {})
    if unknown:
        raise ValueError(f"required parameters not declared: {sorted(unknown)}")
    if form and not upload:
        raise ValueError("form fields need the upload's file part")

    meta = {
        "summary": summary,
        "tags": tags,
        "body": body,
        "responses": responses or {200: "OK"},
        "auth": auth,
        "query": query,
        "upload": upload,
        "form": form or {},
        "required": frozenset(required),
        "dependencies": dependencies,
        "description": description,
    }

    def wrap(func: F) -> F:
        handler = func if body is None and query is None else _enforcing(func, body, query)
        setattr(handler, _ATTR, meta)
        return handler  # type: ignore[return-value]

    return wrap


def declaration(handler: Any) -> dict[str, Any] | None:
    """The :func:`doc` metadata of a route handler (``None`` when undocumented)."""
    return getattr(handler, _ATTR, None)


@dataclass
class Declared:
    """A request's declared input schemas, and which of them the handler has read."""

    body: Schema | None
    query: Schema | None
    read: set[str] = field(default_factory=set)


#: the request key under which a route's :class:`Declared` input lives.
DECLARED = web.RequestKey("chatr.declared", Declared)


def _enforcing(
    func: Callable[[web.Request], Awaitable[web.StreamResponse]],
    body: type[Schema] | None,
    query: type[Schema] | None,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap a handler so its declared inputs must be read (and so validated) before it answers.

    The handler reads them itself, after its own authentication, so a request
    without a token still gets its 401 before any 400 about its input.
    """
    body_schema = body() if body is not None else None
    query_schema = query() if query is not None else None
    expected = {name for name, s in (("body", body), ("query", query)) if s is not None}

    @functools.wraps(func)
    async def handler(request: web.Request) -> web.StreamResponse:
        declared = Declared(body_schema, query_schema)
        request[DECLARED] = declared
        response = await func(request)
        missed = expected - declared.read
        if missed:
            # A bug the suite catches (tests/api/test_declared_inputs.py): loud in
            # development and tests; in production the answer stands, with one line.
            problem = f"{func.__qualname__} answered without reading its {sorted(missed)}"
            if not request.app[SETTINGS].production:
                raise RuntimeError(problem)
            log.error(problem)
        return response

    return handler


_PARAM_TYPES: dict[type[fields.Field], str] = {
    fields.Integer: "integer",
    fields.Boolean: "boolean",
    fields.Number: "number",
}


def _query_params(schema: type[Schema]) -> list[dict[str, Any]]:
    params = []
    for name, spec in schema._declared_fields.items():
        kind = next((t for c, t in _PARAM_TYPES.items() if isinstance(spec, c)), "string")
        param: dict[str, Any] = {
            "name": spec.data_key or name,
            "in": "query",
            "required": spec.required,
            "schema": {"type": kind},
        }
        if "description" in spec.metadata:
            param["description"] = spec.metadata["description"]
        params.append(param)
    return params


def _schema_name(schema: type[Schema]) -> str:
    return schema.__name__.removesuffix("Schema")


def _multipart(meta: dict[str, Any]) -> dict[str, Any]:
    """A ``multipart/form-data`` body: the file part and the text fields."""
    properties: dict[str, Any] = {meta["upload"]: {"type": "string", "format": "binary"}}
    for name, text in meta["form"].items():
        properties[name] = {"type": "string", "description": text}
    required = [meta["upload"], *(n for n in meta["form"] if n in meta["required"])]
    schema = {"type": "object", "properties": properties, "required": required}
    return {"multipart/form-data": {"schema": schema}}


def build_spec(app: web.Application) -> dict[str, Any]:
    spec = APISpec(
        title="Chatr API",
        version=__version__,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "REST API of the Chatr messaging server."},
    )
    spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    error = {"type": "object", "properties": {"error": {"type": "string"}}}
    spec.components.schema("Error", error)
    registered: set[str] = set()
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        meta = getattr(route.handler, _ATTR, None)
        # HEAD is aiohttp's automatic twin of every GET: same statuses, no body.
        if meta is None or route.resource is None or route.method == "HEAD":
            continue
        path = route.resource.canonical
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", path)
        ]
        if meta["query"] is not None:
            params += _query_params(meta["query"])
        operation: dict[str, Any] = {
            "summary": meta["summary"],
            "tags": meta["tags"],
            "responses": {},
        }
        if meta["description"]:
            operation["description"] = meta["description"]
        if params:
            operation["parameters"] = params
        if meta["auth"]:
            operation["security"] = [{"bearerAuth": []}]
        declared = [meta["body"], *meta["responses"].values()]
        for schema in [s for d in declared for s in (d if isinstance(d, list) else [d])]:
            if isinstance(schema, type) and issubclass(schema, Schema):
                name = _schema_name(schema)
                if name not in registered:
                    spec.components.schema(name, schema=schema)
                    registered.add(name)
        if meta["body"] is not None:
            ref = {"$ref": f"#/components/schemas/{_schema_name(meta['body'])}"}
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref}},
            }
        elif meta["upload"] is not None:
            operation["requestBody"] = {"required": True, "content": _multipart(meta)}
        defaults: dict[int, str] = {}
        if meta["auth"]:
            defaults |= AUTH_RESPONSES
        if params or "requestBody" in operation:
            defaults |= INPUT_RESPONSES
        if meta["body"] is not None:
            defaults |= BODY_RESPONSES
        if meta["dependencies"]:
            defaults |= OUTAGE_RESPONSES
        responses = defaults | meta["responses"]
        for status, response in sorted(responses.items()):
            if isinstance(response, str):
                content = (
                    None
                    if status < 400
                    else {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                )
                operation["responses"][str(status)] = {
                    "description": response,
                    **({"content": content} if content else {}),
                }
            else:
                item = response[0] if isinstance(response, list) else response
                ref: dict[str, Any] = {"$ref": f"#/components/schemas/{_schema_name(item)}"}
                if isinstance(response, list):
                    ref = {"type": "array", "items": ref}
                operation["responses"][str(status)] = {
                    "description": _schema_name(item),
                    "content": {"application/json": {"schema": ref}},
                }
        paths.setdefault(path, {})[route.method.lower()] = operation
    for path, operations in sorted(paths.items()):
        spec.path(path=path, operations=operations)
    return spec.to_dict()
