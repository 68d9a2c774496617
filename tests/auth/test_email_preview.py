"""GET /api/email-preview: the templates rendered, query values escaped, per-IP limit."""

from __future__ import annotations

from urllib.parse import quote

import pytest


async def _preview(client, **query) -> tuple[int, str, dict]:
    resp = await client.get("/api/email-preview", params=query)
    return resp.status, await resp.text(), dict(resp.headers)


async def test_default_is_the_verification_email(client):
    status, html, headers = await _preview(client)
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert "123456" in html
    assert "Verify your Chatr account" in html  # the <title> is the subject
    assert "15 minutes" in html


async def test_login_preview_greets_the_username(client):
    status, html, _ = await _preview(client, type="login", code="654321", username="@preview")
    assert status == 200
    assert "654321" in html and "@preview" in html
    assert "Chatr Login Verification Code" in html


async def test_reset_preview_shows_the_link(client, base_settings):
    status, html, _ = await _preview(client, type="reset", code="111222", email="a+b@example.com")
    assert status == 200
    link = (
        f"{base_settings.frontend_url}/reset-password?code=111222"
        f"&amp;email={quote('a+b@example.com', safe='')}"
    )
    assert link in html


async def test_unknown_type_is_400(client):
    resp = await client.get("/api/email-preview", params={"type": "welcome"})
    assert resp.status == 400
    assert await resp.json() == {"error": "Invalid email type. Use: verification, login, or reset"}


@pytest.mark.parametrize("key", ["code", "email", "username", "userId"])
async def test_query_values_are_escaped(client, key):
    payload = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"
    status, html, headers = await _preview(client, type="reset", **{key: payload})
    assert status == 200
    assert "<script>alert(1)" not in html
    assert "<img src=x" not in html
    assert "default-src 'none'" in headers["Content-Security-Policy"]


async def test_overlong_values_are_400(client):
    resp = await client.get("/api/email-preview", params={"username": "x" * 500})
    assert resp.status == 400
    assert "at most" in (await resp.json())["error"]


async def test_theme_and_simulated_dark(client):
    _, light, _ = await _preview(client)
    _, dark, _ = await _preview(client, theme="dark", simulateDark="true")
    assert "invert(1)" in dark and "invert(1)" not in light
    assert "#111318" in dark and "#111318" not in light


async def test_preview_is_rate_limited_per_address(make_client):
    client = await make_client(rate_limits_enabled=True, test_mode_allowed=False)
    statuses = []
    for _ in range(31):
        resp = await client.get("/api/email-preview")
        statuses.append(resp.status)
        assert "X-RateLimit-Remaining" in resp.headers
    assert statuses[:30] == [200] * 30
    assert statuses[30] == 429
    body = await resp.json()
    assert body["error"] == "Too many attempts. Please try again later."
    assert body["retryAfter"] > 0
