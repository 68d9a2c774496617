"""``POST /api/contact`` (rest.md §12; SEC-16 escaping, SEC-18 rate limit)."""

from __future__ import annotations

import json
import secrets
import socket

import pytest

from tests.widget.helpers import pool

GOOD = {"name": "Ada", "email": "ada@example.com", "message": "Hello"}


def _outbox(settings) -> list[dict]:
    folder = settings.outbox_dir / "email"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


async def _mail_client(make_client, tmp_path, **extra):
    return await make_client(
        test_mode_allowed=False,
        contact_email="team@chatr.example",
        data_dir=tmp_path / "var",
        **extra,
    )


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "A", "email": "a@b.co"},
        {"name": "A", "message": "m"},
        {"email": "a@b.co", "message": "m"},
        {"name": "  ", "email": "a@b.co", "message": "m"},
        {"name": 7, "email": "a@b.co", "message": "m"},
        {"name": "A", "email": ["a@b.co"], "message": "m"},
    ],
)
async def test_contact_requires_fields(client, body):
    resp = await client.post("/api/contact", json=body)
    assert resp.status == 400
    assert await resp.json() == {"error": "Name, email, and message are required."}


@pytest.mark.parametrize("email", ["nope", "a@b", "a b@c.de", "x@" + "y" * 260 + ".com"])
async def test_contact_rejects_bad_email(client, email):
    resp = await client.post("/api/contact", json={**GOOD, "email": email})
    assert resp.status == 400
    assert await resp.json() == {"error": "Invalid email address."}


async def test_contact_limits_sizes(client):
    resp = await client.post("/api/contact", json={**GOOD, "message": "x" * 5001})
    assert resp.status == 400
    assert await resp.json() == {"error": "Message too long (max 5000 characters)."}
    resp = await client.post("/api/contact", json={**GOOD, "name": "n" * 201})
    assert resp.status == 400
    resp = await client.post("/api/contact", json={**GOOD, "company": {"x": 1}})
    assert resp.status == 400


async def test_contact_stores_and_mails_escaped_values(make_client, tmp_path):
    client = await _mail_client(make_client, tmp_path)
    marker = secrets.token_hex(4)
    body = {
        "name": f"<script>alert('{marker}')</script>",
        "email": f"eve{marker}@example.com",
        "company": "R&D <Labs>",
        "message": '<img src=x onerror="steal()">\nsecond line',
    }
    resp = await client.post("/api/contact", json=body)
    assert resp.status == 200
    assert await resp.json() == {"success": True}
    row = await pool(client).fetchrow(
        "SELECT * FROM contact_submissions WHERE email = $1", body["email"]
    )
    assert row["name"] == body["name"] and row["company"] == "R&D <Labs>"
    assert row["message"] == body["message"]
    mails = _outbox(_settings(client))
    assert len(mails) == 1
    mail = mails[0]
    assert mail["to"] == "team@chatr.example"
    assert mail["reply_to"] == body["email"]
    assert mail["subject"] == f"Chatr Enquiry from <script>alert('{marker}')</script> (R&D <Labs>)"
    assert "\n" not in mail["subject"]
    html = mail["html"]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "&lt;img" in html
    assert "R&amp;D &lt;Labs&gt;" in html


async def test_contact_subject_has_no_line_breaks(make_client, tmp_path):
    client = await _mail_client(make_client, tmp_path)
    resp = await client.post(
        "/api/contact", json={**GOOD, "name": "Ann\r\nBcc: victim@example.com"}
    )
    assert resp.status == 200
    (mail,) = _outbox(_settings(client))
    assert "\r" not in mail["subject"] and "\n" not in mail["subject"]


async def test_contact_without_contact_email_only_stores(make_client, tmp_path):
    client = await make_client(test_mode_allowed=False, data_dir=tmp_path / "var")
    email = f"solo{secrets.token_hex(4)}@example.com"
    resp = await client.post("/api/contact", json={**GOOD, "email": email})
    assert resp.status == 200
    assert _outbox(_settings(client)) == []
    assert await pool(client).fetchval(
        "SELECT count(*) FROM contact_submissions WHERE email = $1", email
    )


async def test_contact_provider_failure_is_500(make_client, tmp_path, server_errors):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    client = await _mail_client(
        make_client, tmp_path, smtp_host="127.0.0.1", smtp_port=closed_port, smtp_starttls=False
    )
    resp = await client.post("/api/contact", json=GOOD)
    assert resp.status == 500
    assert await resp.json() == {"error": "Failed to send message. Please try again."}
    # A server-side condition (no agent / provider down), not bad input.
    server_errors.clear()


async def test_contact_is_rate_limited_per_address(make_client, tmp_path):
    client = await make_client(
        rate_limits_enabled=True,
        test_mode_allowed=False,
        trusted_proxy_hops=1,
        data_dir=tmp_path / "var",
    )
    ip = {"X-Forwarded-For": f"198.18.{secrets.randbelow(250)}.{secrets.randbelow(250)}"}
    statuses = [(await client.post("/api/contact", json=GOOD, headers=ip)).status for _ in range(6)]
    assert statuses == [200] * 5 + [429]


def _settings(client):
    from chatr_server.appkeys import SETTINGS

    return client.app[SETTINGS]
