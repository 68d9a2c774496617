"""SEC-9: an unverified account cannot be taken over by re-registering its email or phone."""

from __future__ import annotations

from tests.auth.flows import post, registered
from tests.helpers import register, unique_username

THIEF_PASSWORD = "Thief!Pass1"


async def _age(db, user_id: str, hours: int) -> None:
    await db.execute(
        "UPDATE users SET created_at = now() - make_interval(hours => $2) WHERE id = $1",
        user_id,
        hours,
    )


async def test_stranger_cannot_take_a_fresh_unverified_email(peers):
    victim = await registered(peers)
    code = peers.last_email_code(victim.email)
    status, body, _ = await register(
        peers.client,
        email=victim.email,
        username=unique_username("thief"),
        password=THIEF_PASSWORD,
    )
    assert status == 409, body
    # The victim's pending code and password still work.
    status, body = await post(
        peers.client, "/api/auth/verify-email", {"userId": victim.id, "code": code}
    )
    assert status == 200, body
    assert body["user"]["username"] == victim.username


async def test_stranger_cannot_take_a_fresh_unverified_phone(peers):
    victim = await registered(peers, phone=True)
    status, body, _ = await register(
        peers.client,
        phoneNumber=victim.phone,
        username=unique_username("thief"),
        password=THIEF_PASSWORD,
    )
    assert status == 409, body


async def test_owner_may_register_again_with_the_same_password(peers):
    first = await registered(peers)
    new_name = unique_username("again")
    status, body, _ = await register(peers.client, email=first.email, username=new_name)
    assert status == 201, body
    assert body["userId"] == first.id
    code = peers.last_email_code(first.email)
    status, body = await post(
        peers.client, "/api/auth/verify-email", {"userId": first.id, "code": code}
    )
    assert status == 200
    assert body["user"]["username"] == "@" + new_name


async def test_abandoned_unverified_account_can_be_claimed(peers, db):
    """After the protection window the address's real owner can start over."""
    stale = await registered(peers)
    old_code = peers.last_email_code(stale.email)
    await _age(db, stale.id, 2)
    status, body, _ = await register(
        peers.client,
        email=stale.email,
        username=unique_username("owner"),
        password=THIEF_PASSWORD,
    )
    assert status == 201, body
    new_code = peers.last_email_code(stale.email)
    if new_code != old_code:
        # The first registrant's code died with the overwrite.
        status, _ = await post(
            peers.client, "/api/auth/verify-email", {"userId": stale.id, "code": old_code}
        )
        assert status == 401


async def test_reset_password_route_is_documented(client):
    spec = await (await client.get("/api/openapi.json")).json()
    operation = spec["paths"]["/api/auth/reset-password"]["post"]
    assert "rewrite addition" in operation["summary"]
    schema = spec["components"]["schemas"]["ResetPassword"]
    assert {"email", "code", "newPassword"} <= set(schema["properties"])
    for path in (
        "/api/auth/resend-verification",
        "/api/auth/2fa/setup",
        "/api/auth/2fa/verify",
        "/api/auth/forgot-password",
        "/api/email-preview",
    ):
        assert path in spec["paths"]
