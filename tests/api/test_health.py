import base64
import re

from chatr_server.store import MemoryStore

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def test_health_reports_database_and_store(client, redis_url):
    resp = await client.get("/api/health")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok"
    assert TS.match(body["timestamp"])
    assert body["database"] == "connected"
    assert body["redis"] == ("connected" if redis_url else "disconnected")


async def test_health_without_redis_says_disconnected(make_client):
    client = await make_client(redis_url=None)
    body = await (await client.get("/api/health")).json()
    assert body["redis"] == "disconnected"
    assert isinstance(MemoryStore(), MemoryStore)


async def test_unknown_route_is_json_404(client):
    resp = await client.get("/api/definitely/not/here")
    assert resp.status == 404
    assert await resp.json() == {"error": "Not found"}


async def test_wrong_method_is_json_405(client):
    resp = await client.delete("/api/health")
    assert resp.status == 405
    assert await resp.json() == {"error": "Method not allowed"}


async def test_openapi_lists_every_api_route(client):
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    spec = await resp.json()
    assert spec["info"]["title"] == "Chatr API"
    assert "/api/auth/register" in spec["paths"]
    assert "post" in spec["paths"]["/api/auth/login"]
    assert spec["paths"]["/api/users/me"]["get"]["security"] == [{"bearerAuth": []}]
    documented = set(spec["paths"])
    for route in client.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith("/api/") and not path.startswith(("/api/docs", "/api/openapi")):
            assert path in documented, f"{route.method} {path} missing from the OpenAPI spec"


async def test_swagger_ui_is_served(client):
    resp = await client.get("/api/docs/")
    assert resp.status == 200
    assert "swagger" in (await resp.text()).lower()


async def test_cors_preflight_and_headers(client):
    resp = await client.options(
        "/api/auth/login",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    resp = await client.get("/api/health", headers={"Origin": "http://example.test"})
    assert resp.headers["Access-Control-Allow-Origin"] == "http://example.test"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Request-Id"]


async def test_production_cors_uses_allow_list(make_client):
    client = await make_client(production=True, frontend_url="https://chatr.example")
    ok = await client.get("/api/health", headers={"Origin": "https://www.chatr.example"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://www.chatr.example"
    bad = await client.get("/api/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in bad.headers


async def test_production_docs_need_basic_auth(make_client):
    client = await make_client(production=True, swagger_user="ops", swagger_pass="s3cret-docs")
    resp = await client.get("/api/docs/")
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == 'Basic realm="Chatr API Docs"'
    auth = {"Authorization": "Basic " + base64.b64encode(b"ops:s3cret-docs").decode()}
    resp = await client.get("/api/docs/", headers=auth)
    assert resp.status == 200
    off = await make_client(production=True)
    assert (await off.get("/api/openapi.json")).status == 404
