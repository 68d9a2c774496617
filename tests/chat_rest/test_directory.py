"""``GET /api/users``, search, ``by-id`` and ``/:username`` (rest.md §3, SEC-6, SEC-14)."""

from __future__ import annotations

import secrets

import pytest

from tests.chat_rest.helpers import befriend, block, set_privacy
from tests.helpers import make_user, register, verified_user

TS = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


@pytest.mark.parametrize(
    "path",
    [
        "/api/users",
        "/api/users/search?q=a",
        "/api/users/conversations",
        "/api/users/by-id/00000000-0000-4000-8000-000000000000",
        "/api/users/%40someone",
    ],
)
async def test_routes_need_a_token(client, path):
    resp = await client.get(path)
    assert resp.status == 401
    assert await resp.json() == {"error": "Access token required"}
    resp = await client.get(path, headers={"Authorization": "Bearer not-a-jwt"})
    assert resp.status == 403


async def test_list_users_hides_private_fields_of_others(client, db):
    alice = await verified_user(client)
    bob = await verified_user(client)
    carol = await verified_user(client)
    status, unverified, _ = await register(client)
    assert status == 201
    await set_privacy(db, carol.id, privacy_email="friends", privacy_joined_date="nobody")
    await set_privacy(db, bob.id, privacy_full_name="nobody")
    await befriend(db, alice.id, carol.id)

    resp = await client.get("/api/users", headers=alice.auth)
    assert resp.status == 200
    users = {u["id"]: u for u in (await resp.json())["users"]}
    assert unverified["userId"] not in users
    me = users[alice.id]
    assert me["email"] == alice.email  # one's own row is not filtered
    # Bob: default privacyEmail is "nobody"; full name hidden on request.
    assert users[bob.id]["email"] is None
    assert users[bob.id]["firstName"] is None and users[bob.id]["lastName"] is None
    assert users[bob.id]["createdAt"] is not None
    # Carol shows her email to friends only, and hides her join date.
    assert users[carol.id]["email"] == carol.email
    assert users[carol.id]["createdAt"] is None
    # Ordered by username.
    names = [u["username"] for u in users.values()]
    assert names == sorted(names)

    resp = await client.get("/api/users", headers=bob.auth)
    users = {u["id"]: u for u in (await resp.json())["users"]}
    assert users[carol.id]["email"] is None


async def test_search_matches_names_friends_first_and_excludes_self(client, db):
    tag = secrets.token_hex(3)
    me = await verified_user(client, firstName=f"Zed{tag}")
    friend = await verified_user(client, firstName=f"Zed{tag}", lastName="Friend")
    stranger = await verified_user(client, firstName=f"Zed{tag}", lastName="Aardvark")
    await db.execute("UPDATE users SET display_name = 'Aaron' WHERE id = $1", stranger.id)
    await befriend(db, friend.id, me.id)

    resp = await client.get(f"/api/users/search?q=zed{tag}", headers=me.auth)
    assert resp.status == 200
    users = (await resp.json())["users"]
    assert [u["id"] for u in users] == [friend.id, stranger.id]
    first = users[0]
    assert first["isFriend"] is True
    assert first["friendship"]["status"] == "accepted"
    assert first["friendship"]["iRequested"] is False
    assert users[1]["friendship"] is None and users[1]["isFriend"] is False


async def test_search_empty_query_and_wildcards(client):
    me = await make_user(client)
    for q in ("", "   "):
        resp = await client.get(f"/api/users/search?q={q}", headers=me.auth)
        assert await resp.json() == {"users": []}
    resp = await client.get("/api/users/search", headers=me.auth)
    assert await resp.json() == {"users": []}
    # LIKE wildcards are literal: "%" matches no username (usernames are [A-Za-z0-9_]).
    resp = await client.get("/api/users/search?q=%25", headers=me.auth)
    assert resp.status == 200
    assert (await resp.json())["users"] == []
    resp = await client.get("/api/users/search?q=" + "x" * 5000, headers=me.auth)
    assert resp.status == 200


async def test_search_caps_at_30(client, db):
    tag = f"cap{secrets.token_hex(3)}"
    me = await make_user(client)
    await db.executemany(
        "INSERT INTO users (username, password_hash, email_verified) VALUES ($1, 'x', true)",
        [(f"@{tag}_{i}",) for i in range(35)],
    )
    resp = await client.get(f"/api/users/search?q={tag}", headers=me.auth)
    assert len((await resp.json())["users"]) == 30


async def test_search_respects_hidden_full_name_and_hides_blocks_from_the_blocked(client, db):
    tag = secrets.token_hex(3)
    me = await verified_user(client)
    private = await verified_user(client, lastName=f"Secret{tag}")
    await set_privacy(db, private.id, privacy_full_name="nobody")
    # displayName starts as "<first> <last>"; it is public by design, so change it.
    await db.execute("UPDATE users SET display_name = 'P' WHERE id = $1", private.id)
    resp = await client.get(f"/api/users/search?q=secret{tag}", headers=me.auth)
    assert (await resp.json())["users"] == []

    blocker = await verified_user(client, lastName=f"Blocker{tag}")
    await block(db, blocker.id, me.id)
    resp = await client.get(f"/api/users/search?q=blocker{tag}", headers=me.auth)
    users = (await resp.json())["users"]
    assert [u["id"] for u in users] == [blocker.id]
    assert users[0]["friendship"] is None  # the blocked party never sees the block row
    resp = await client.get(f"/api/users/search?q={me.username[1:]}", headers=blocker.auth)
    ref = (await resp.json())["users"][0]["friendship"]
    assert ref["status"] == "blocked" and ref["iRequested"] is True


async def test_by_id_filters_by_privacy(client, db):
    viewer = await make_user(client)
    target = await make_user(client, gender="female")
    resp = await client.get(f"/api/users/by-id/{target.id}", headers=viewer.auth)
    assert resp.status == 200
    user = (await resp.json())["user"]
    # Defaults: names and join date public; phone, email, gender private.
    assert set(user) == {
        "id",
        "username",
        "displayName",
        "profileImage",
        "coverImage",
        "lastSeen",
        "emailVerified",
        "firstName",
        "lastName",
        "createdAt",
    }
    await set_privacy(
        db,
        target.id,
        privacy_email="friends",
        privacy_gender="everyone",
        privacy_full_name="nobody",
    )
    user = (await (await client.get(f"/api/users/by-id/{target.id}", headers=viewer.auth)).json())[
        "user"
    ]
    assert "email" not in user and "firstName" not in user and user["gender"] == "female"
    await befriend(db, viewer.id, target.id)
    user = (await (await client.get(f"/api/users/by-id/{target.id}", headers=viewer.auth)).json())[
        "user"
    ]
    assert user["email"] == target.email
    # "nobody" hides the field from its owner too.
    own = (await (await client.get(f"/api/users/by-id/{target.id}", headers=target.auth)).json())[
        "user"
    ]
    assert "firstName" not in own and "phoneNumber" not in own


async def test_by_id_hides_last_seen_when_online_status_is_private(client, db):
    viewer = await make_user(client)
    target = await make_user(client)
    await db.execute("UPDATE users SET last_seen = now() WHERE id = $1", target.id)
    user = (await (await client.get(f"/api/users/by-id/{target.id}", headers=viewer.auth)).json())[
        "user"
    ]
    assert user["lastSeen"] is not None
    await set_privacy(db, target.id, privacy_online_status="nobody")
    user = (await (await client.get(f"/api/users/by-id/{target.id}", headers=viewer.auth)).json())[
        "user"
    ]
    assert user["lastSeen"] is None


async def test_by_id_unknown_malformed_and_blocked(client, db):
    viewer = await make_user(client)
    for bad in ("00000000-0000-4000-8000-000000000000", "not-a-uuid", "1" * 200):
        resp = await client.get(f"/api/users/by-id/{bad}", headers=viewer.auth)
        assert resp.status == 404
        assert await resp.json() == {"error": "User not found"}
    blocker = await make_user(client)
    await block(db, blocker.id, viewer.id)
    resp = await client.get(f"/api/users/by-id/{blocker.id}", headers=viewer.auth)
    assert await resp.json() == {"blockedByThem": True}
    # The blocker still sees the blocked user's profile.
    resp = await client.get(f"/api/users/by-id/{viewer.id}", headers=blocker.auth)
    assert (await resp.json())["user"]["id"] == viewer.id


async def test_by_username(client, db):
    viewer = await make_user(client)
    target = await make_user(client)
    resp = await client.get(f"/api/users/%40{target.username[1:]}", headers=viewer.auth)
    assert resp.status == 200
    user = (await resp.json())["user"]
    assert set(user) == {
        "id",
        "username",
        "displayName",
        "firstName",
        "lastName",
        "profileImage",
        "coverImage",
        "lastSeen",
        "emailVerified",
    }
    assert user["id"] == target.id and user["firstName"] == "Test"
    # The @ may be omitted.
    resp = await client.get(f"/api/users/{target.username[1:]}", headers=viewer.auth)
    assert (await resp.json())["user"]["id"] == target.id
    await set_privacy(db, target.id, privacy_full_name="friends")
    user = (await (await client.get(f"/api/users/{target.username}", headers=viewer.auth)).json())[
        "user"
    ]
    assert user["firstName"] is None and user["lastName"] is None
    resp = await client.get(
        "/api/users/%40nobody_here_" + secrets.token_hex(4), headers=viewer.auth
    )
    assert resp.status == 404
    assert await resp.json() == {"error": "User not found"}


async def test_literal_user_routes_win_over_username(client):
    me = await make_user(client)
    resp = await client.get("/api/users/me", headers=me.auth)
    assert (await resp.json())["id"] == me.id
    resp = await client.get("/api/users/conversations", headers=me.auth)
    assert "conversations" in await resp.json()
