"""``GET /api/health`` (liveness), ``GET /api/health/ready`` and the OpenAPI document."""

from __future__ import annotations

from aiohttp import web
from marshmallow import Schema, fields

from chatr_server.api.openapi import build_spec, doc
from chatr_server.appkeys import SERVICES
from chatr_server.lifecycle import LIFECYCLE
from chatr_server.services.readiness import readiness
from chatr_server.util.jsonx import json_response
from chatr_server.util.timefmt import iso_ms, utcnow

# Filled on first request: every route is registered by then, and the spec never changes.
OPENAPI_CACHE = web.AppKey("openapi_cache", dict)


class HealthSchema(Schema):
    status = fields.String()
    timestamp = fields.String()
    redis = fields.String(metadata={"description": "connected | disconnected"})
    database = fields.String(metadata={"description": "connected | disconnected"})


@doc(
    "Service health (liveness: answers while PostgreSQL or Redis is down, naming it)",
    tags=["health"],
    responses={200: HealthSchema},
    dependencies=False,
)
async def health(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    store_ok = services.store.kind == "redis" and await services.store.ping()
    try:
        await services.pool.fetchval("SELECT 1", timeout=2)
        database = "connected"
    except Exception:
        database = "disconnected"
    return json_response(
        {
            "status": "ok",
            "timestamp": iso_ms(utcnow()),
            "redis": "connected" if store_ok else "disconnected",
            "database": database,
        }
    )


class ReadinessChecksSchema(Schema):
    database = fields.String(metadata={"description": "ok | down"})
    migrations = fields.String(metadata={"description": "ok | pending | unknown"})
    redis = fields.String(metadata={"description": "ok | down | not configured"})
    draining = fields.Boolean(metadata={"description": "true once SIGTERM/SIGINT arrived"})


class ReadinessSchema(Schema):
    status = fields.String(metadata={"description": "ready | not ready"})
    checks = fields.Nested(ReadinessChecksSchema)


@doc(
    "Readiness: may a load balancer send traffic here",
    tags=["health"],
    responses={200: ReadinessSchema, 503: ReadinessSchema},
    description=(
        "200 only when PostgreSQL answers, every migration is applied, Redis answers "
        "(when configured) and the node is not draining; otherwise 503 naming the failed "
        "checks. Each check is bounded (2 s). `/api/health` stays the liveness answer."
    ),
)
async def ready(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    ok, body = await readiness(services.pool, services.store, request.app[LIFECYCLE].draining)
    return json_response(body, status=200 if ok else 503, headers={"Cache-Control": "no-store"})


async def openapi_json(request: web.Request) -> web.Response:
    cache = request.app[OPENAPI_CACHE]
    if not cache:
        cache.update(build_spec(request.app))
    return json_response(cache)
