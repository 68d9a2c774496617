"""``/api/friends/*`` (rest.md §5) with the SEC-6 and SEC-14 fixes."""

from __future__ import annotations

import re
import secrets
import uuid

import pytest

from tests.helpers import make_user, verified_user
from tests.social.helpers import befriend, request

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def set_privacy(client, user, **levels):
    resp = await client.put("/api/users/me/settings", headers=user.auth, json=levels)
    assert resp.status == 200, await resp.json()


async def get(client, user, path):
    resp = await client.get(path, headers=user.auth)
    assert resp.status == 200, await resp.json()
    return await resp.json()


ANY_ID = "3f2b8e1c-1111-4222-8333-444455556666"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/friends"),
        ("GET", "/api/friends/requests/incoming"),
        ("GET", "/api/friends/requests/outgoing"),
        ("GET", "/api/friends/search?q=abc"),
        ("POST", "/api/friends/request"),
        ("GET", "/api/friends/blocked"),
        ("POST", f"/api/friends/{ANY_ID}/accept"),
        ("POST", f"/api/friends/{ANY_ID}/decline"),
        ("DELETE", f"/api/friends/{ANY_ID}"),
        ("POST", f"/api/friends/{ANY_ID}/block"),
        ("POST", f"/api/friends/{ANY_ID}/unblock"),
        ("GET", f"/api/friends/{ANY_ID}/block-status"),
    ],
)
async def test_every_route_needs_a_token(client, method, path):
    resp = await client.request(method, path)
    assert resp.status == 401
    assert await resp.json() == {"error": "Access token required"}
    resp = await client.request(method, path, headers={"Authorization": "Bearer nope"})
    assert resp.status == 403


async def test_request_shape_and_lists(client):
    alice = await make_user(client)
    bob = await make_user(client)
    status, body = await request(client, alice, bob.id)
    assert status == 201
    friendship = body["friendship"]
    assert set(body) == {"friendship"}
    assert friendship["requesterId"] == alice.id
    assert friendship["addresseeId"] == bob.id
    assert friendship["status"] == "pending"
    assert TS.match(friendship["createdAt"]) and TS.match(friendship["updatedAt"])
    assert friendship["requester"]["email"] == alice.email  # one's own card keeps it
    assert friendship["addressee"]["id"] == bob.id
    assert friendship["addressee"]["email"] is None  # privacyEmail defaults to nobody

    outgoing = await get(client, alice, "/api/friends/requests/outgoing")
    assert outgoing == {
        "requests": [
            {
                "friendshipId": friendship["id"],
                "createdAt": friendship["createdAt"],
                "user": friendship["addressee"],
            }
        ]
    }
    incoming = await get(client, bob, "/api/friends/requests/incoming")
    assert [r["user"]["id"] for r in incoming["requests"]] == [alice.id]
    assert await get(client, alice, "/api/friends/requests/incoming") == {"requests": []}
    assert await get(client, alice, "/api/friends") == {"friends": []}


async def test_request_errors(client):
    alice = await make_user(client)
    bob = await make_user(client)
    cases = [
        ({}, 400, "addresseeId required"),
        ({"addresseeId": ""}, 400, "addresseeId required"),
        ({"addresseeId": None}, 400, "addresseeId required"),
        ({"addresseeId": 42}, 400, "addresseeId required"),
        ({"addresseeId": ["x"]}, 400, "addresseeId required"),
        ({"addresseeId": alice.id}, 400, "Cannot add yourself"),
        ({"addresseeId": alice.id.upper()}, 400, "Cannot add yourself"),
        ({"addresseeId": "not-a-uuid"}, 404, "User not found"),
        ({"addresseeId": str(uuid.uuid4())}, 404, "User not found"),
    ]
    for body, status, message in cases:
        resp = await client.post("/api/friends/request", headers=alice.auth, json=body)
        assert resp.status == status, body
        assert await resp.json() == {"message": message}
    resp = await client.post("/api/friends/request", headers=alice.auth, data=b"{nope")
    assert resp.status == 400
    assert "message" in await resp.json()
    resp = await client.post("/api/friends/request", headers=alice.auth, json=[bob.id])
    assert resp.status == 400
    assert "message" in await resp.json()

    assert (await request(client, alice, bob.id))[0] == 201
    assert await request(client, alice, bob.id) == (409, {"message": "Request already sent"})


async def test_reverse_request_auto_accepts_then_already_friends(client):
    alice = await make_user(client)
    bob = await make_user(client)
    _, first = await request(client, alice, bob.id)
    status, body = await request(client, bob, alice.id)
    assert status == 200
    assert body["autoAccepted"] is True
    assert body["friendship"]["id"] == first["friendship"]["id"]
    assert body["friendship"]["status"] == "accepted"
    assert await request(client, alice, bob.id) == (409, {"message": "Already friends"})
    assert await request(client, bob, alice.id) == (409, {"message": "Already friends"})
    friends = await get(client, bob, "/api/friends")
    assert len(friends["friends"]) == 1
    entry = friends["friends"][0]
    assert entry["since"] == body["friendship"]["updatedAt"]
    assert entry["user"]["id"] == alice.id


async def test_accept(client):
    alice = await make_user(client)
    bob = await make_user(client)
    carol = await make_user(client)
    _, body = await request(client, alice, bob.id)
    fid = body["friendship"]["id"]

    for user, status, message in [
        (alice, 403, "Not authorised"),  # the requester cannot accept
        (carol, 403, "Not authorised"),
    ]:
        resp = await client.post(f"/api/friends/{fid}/accept", headers=user.auth)
        assert resp.status == status
        assert await resp.json() == {"message": message}
    for bad in ("nope", str(uuid.uuid4())):
        resp = await client.post(f"/api/friends/{bad}/accept", headers=bob.auth)
        assert resp.status == 404
        assert await resp.json() == {"message": "Request not found"}

    resp = await client.post(f"/api/friends/{fid}/accept", headers=bob.auth)
    assert resp.status == 200
    accepted = (await resp.json())["friendship"]
    assert accepted["status"] == "accepted"
    resp = await client.post(f"/api/friends/{fid}/accept", headers=bob.auth)
    assert resp.status == 409
    assert await resp.json() == {"message": "Request is not pending"}
    alice_friends = await get(client, alice, "/api/friends")
    assert [f["user"]["id"] for f in alice_friends["friends"]] == [bob.id]


async def test_decline_and_cancel(client):
    alice = await make_user(client)
    bob = await make_user(client)
    carol = await make_user(client)
    _, body = await request(client, alice, bob.id)
    fid = body["friendship"]["id"]
    resp = await client.post(f"/api/friends/{fid}/decline", headers=carol.auth)
    assert resp.status == 403
    assert await resp.json() == {"message": "Not authorised"}
    resp = await client.post("/api/friends/zzz/decline", headers=bob.auth)
    assert resp.status == 404
    assert await resp.json() == {"message": "Request not found"}
    resp = await client.post(f"/api/friends/{fid}/decline", headers=bob.auth)
    assert await resp.json() == {"success": True}
    resp = await client.post(f"/api/friends/{fid}/decline", headers=bob.auth)
    assert resp.status == 404
    # The requester cancels with the same route.
    _, body = await request(client, alice, bob.id)
    resp = await client.post(f"/api/friends/{body['friendship']['id']}/decline", headers=alice.auth)
    assert await resp.json() == {"success": True}
    assert await get(client, bob, "/api/friends/requests/incoming") == {"requests": []}


async def test_remove_friend(client):
    alice = await make_user(client)
    bob = await make_user(client)
    carol = await make_user(client)
    fid = await befriend(client, alice, bob)
    resp = await client.delete(f"/api/friends/{fid}", headers=carol.auth)
    assert resp.status == 403
    assert await resp.json() == {"message": "Not authorised"}
    for bad in ("x", str(uuid.uuid4())):
        resp = await client.delete(f"/api/friends/{bad}", headers=alice.auth)
        assert resp.status == 404
        assert await resp.json() == {"message": "Friendship not found"}
    resp = await client.delete(f"/api/friends/{fid}", headers=bob.auth)
    assert await resp.json() == {"success": True}
    assert await get(client, alice, "/api/friends") == {"friends": []}


async def test_block_unblock_and_status(client):
    alice = await make_user(client)
    bob = await make_user(client)
    await befriend(client, alice, bob)

    resp = await client.post(f"/api/friends/{alice.id}/block", headers=alice.auth)
    assert resp.status == 400
    assert await resp.json() == {"message": "Cannot block yourself"}
    resp = await client.post("/api/friends/garbage/block", headers=alice.auth)
    assert resp.status == 400
    assert await resp.json() == {"message": "Invalid user id"}
    resp = await client.post(f"/api/friends/{uuid.uuid4()}/block", headers=alice.auth)
    assert resp.status == 404
    assert await resp.json() == {"message": "User not found"}

    resp = await client.post(f"/api/friends/{bob.id}/block", headers=alice.auth)
    assert resp.status == 200
    friendship = (await resp.json())["friendship"]
    assert friendship["status"] == "blocked"
    assert friendship["requesterId"] == alice.id
    assert friendship["addressee"]["email"] is None

    # The friendship is gone; the block shows in the blocker's list only.
    assert await get(client, alice, "/api/friends") == {"friends": []}
    assert await get(client, bob, "/api/friends") == {"friends": []}
    blocked = await get(client, alice, "/api/friends/blocked")
    assert blocked == {
        "blocked": [
            {
                "friendshipId": friendship["id"],
                "createdAt": friendship["createdAt"],
                "user": friendship["addressee"],
            }
        ]
    }
    assert await get(client, bob, "/api/friends/blocked") == {"blocked": []}
    assert await get(client, alice, f"/api/friends/{bob.id}/block-status") == {
        "blocked": True,
        "blockedByMe": True,
    }
    assert await get(client, bob, f"/api/friends/{alice.id}/block-status") == {
        "blocked": True,
        "blockedByMe": False,
    }
    assert await request(client, alice, bob.id) == (409, {"message": "Cannot send request"})
    assert await request(client, bob, alice.id) == (409, {"message": "Cannot send request"})

    # Blocking again is idempotent (still one row).
    resp = await client.post(f"/api/friends/{bob.id}/block", headers=alice.auth)
    assert resp.status == 200
    assert len((await get(client, alice, "/api/friends/blocked"))["blocked"]) == 1

    for path in ("garbage/unblock", "garbage/block-status"):
        method = client.post if path.endswith("unblock") else client.get
        resp = await method(f"/api/friends/{path}", headers=alice.auth)
        assert resp.status == 400
        assert await resp.json() == {"message": "Invalid user id"}

    resp = await client.post(f"/api/friends/{bob.id}/unblock", headers=alice.auth)
    assert await resp.json() == {"success": True}
    assert await get(client, alice, f"/api/friends/{bob.id}/block-status") == {"blocked": False}
    assert await get(client, alice, "/api/friends/blocked") == {"blocked": []}
    # Unblocking someone not blocked (or unknown) is a harmless success.
    resp = await client.post(f"/api/friends/{uuid.uuid4()}/unblock", headers=alice.auth)
    assert await resp.json() == {"success": True}
    assert (await request(client, bob, alice.id))[0] == 201


async def test_sec14_blocked_user_cannot_lift_the_block(client):
    blocker = await verified_user(client)
    victim = await verified_user(client)
    resp = await client.post(f"/api/friends/{victim.id}/block", headers=blocker.auth)
    fid = (await resp.json())["friendship"]["id"]

    # The blocked party cannot delete, decline or accept the block row.
    resp = await client.post(f"/api/friends/{fid}/decline", headers=victim.auth)
    assert resp.status == 403
    assert await resp.json() == {"message": "Not authorised"}
    resp = await client.delete(f"/api/friends/{fid}", headers=victim.auth)
    assert resp.status == 403
    assert await resp.json() == {"message": "Not authorised"}
    resp = await client.post(f"/api/friends/{fid}/accept", headers=victim.auth)
    assert resp.status == 403
    assert await resp.json() == {"message": "Not authorised"}
    # Unblock by the victim lifts nothing.
    await client.post(f"/api/friends/{blocker.id}/unblock", headers=victim.auth)
    assert await get(client, victim, f"/api/friends/{blocker.id}/block-status") == {
        "blocked": True,
        "blockedByMe": False,
    }

    # The row is hidden from the blocked party in friend search, not from the blocker.
    found = await get(client, victim, f"/api/friends/search?q={blocker.username[1:]}")
    assert [(u["id"], u["friendship"]) for u in found["users"]] == [(blocker.id, None)]
    found = await get(client, blocker, f"/api/friends/search?q={victim.username[1:]}")
    assert found["users"][0]["friendship"] == {"id": fid, "status": "blocked", "iRequested": True}

    # Blocking back keeps the first block: each side owns its own block.
    resp = await client.post(f"/api/friends/{blocker.id}/block", headers=victim.auth)
    assert resp.status == 200
    back_id = (await resp.json())["friendship"]["id"]
    assert back_id != fid
    blocked = await get(client, blocker, "/api/friends/blocked")
    assert [b["friendshipId"] for b in blocked["blocked"]] == [fid]
    resp = await client.post(f"/api/friends/{blocker.id}/unblock", headers=victim.auth)
    assert await resp.json() == {"success": True}
    assert await get(client, victim, f"/api/friends/{blocker.id}/block-status") == {
        "blocked": True,
        "blockedByMe": False,
    }
    # The blocker may remove their block through DELETE as well.
    resp = await client.delete(f"/api/friends/{fid}", headers=blocker.auth)
    assert await resp.json() == {"success": True}
    assert await get(client, victim, f"/api/friends/{blocker.id}/block-status") == {
        "blocked": False
    }


async def test_search(client):
    tag = "s" + secrets.token_hex(4)
    me = await verified_user(client, username=f"{tag}_me")
    ann = await verified_user(client, username=f"{tag}_ann", firstName="Zephyrine", lastName="Q")
    await make_user(client, username=f"{tag}_unv")  # not verified: never listed
    # displayName starts as "<first> <last>"; make it independent of the full name.
    await client.put("/api/users/me", headers=ann.auth, json={"displayName": "Annie"})

    assert await get(client, me, "/api/friends/search") == {"users": []}
    assert await get(client, me, "/api/friends/search?q=%20a%20") == {"users": []}
    found = await get(client, me, f"/api/friends/search?q={tag.upper()}")
    assert [u["id"] for u in found["users"]] == [ann.id]  # not the caller, not unverified
    user = found["users"][0]
    assert user["friendship"] is None
    assert user["email"] is None
    assert user["firstName"] == "Zephyrine"

    # Friend search never matches email addresses (SEC-6), only names.
    assert await get(client, me, f"/api/friends/search?q={ann.email}") == {"users": []}
    assert await get(client, me, "/api/friends/search?q=example.com") == {"users": []}
    found = await get(client, me, "/api/friends/search?q=zephyrine")
    assert ann.id in [u["id"] for u in found["users"]]
    # NUL bytes are bad input (issue 12: text PostgreSQL cannot store); long needles harmless.
    resp = await client.get("/api/friends/search?q=%00%00", headers=me.auth)
    assert (resp.status, await resp.json()) == (400, {"error": "Invalid input"})
    assert await get(client, me, f"/api/friends/search?q={'x' * 5000}") == {"users": []}
    # LIKE wildcards are plain characters.
    assert await get(client, me, "/api/friends/search?q=%25%25%25") == {"users": []}

    # privacyFullName hides the name from results and from matching.
    await set_privacy(client, ann, privacyFullName="friends")
    found = await get(client, me, "/api/friends/search?q=zephyrine")
    assert ann.id not in [u["id"] for u in found["users"]]
    found = await get(client, me, f"/api/friends/search?q={tag}_ann")
    assert found["users"][0]["firstName"] is None and found["users"][0]["lastName"] is None

    # Friends see what "friends" allows, and the FriendshipRef.
    fid = await befriend(client, me, ann)
    await set_privacy(client, ann, privacyEmail="friends")
    found = await get(client, me, "/api/friends/search?q=zephyrine")
    user = next(u for u in found["users"] if u["id"] == ann.id)
    assert user["firstName"] == "Zephyrine"
    assert user["email"] == ann.email
    assert user["friendship"] == {"id": fid, "status": "accepted", "iRequested": True}
    found = await get(client, ann, f"/api/friends/search?q={tag}_me")
    assert found["users"][0]["friendship"] == {"id": fid, "status": "accepted", "iRequested": False}


async def test_search_is_capped_at_20(client):
    tag = "c" + secrets.token_hex(4)
    me = await verified_user(client)
    for i in range(21):
        await verified_user(client, username=f"{tag}{i:02d}")
    found = await get(client, me, f"/api/friends/search?q={tag}")
    assert len(found["users"]) == 20


async def test_user_card_email_follows_privacy(client):
    alice = await make_user(client)
    bob = await make_user(client)
    carol = await make_user(client)
    await set_privacy(client, bob, privacyEmail="friends")
    await set_privacy(client, carol, privacyEmail="everyone")
    await befriend(client, alice, bob)
    friends = await get(client, alice, "/api/friends")
    assert friends["friends"][0]["user"]["email"] == bob.email
    await request(client, carol, alice.id)
    incoming = await get(client, alice, "/api/friends/requests/incoming")
    assert incoming["requests"][0]["user"]["email"] == carol.email
    await set_privacy(client, carol, privacyEmail="friends")
    incoming = await get(client, alice, "/api/friends/requests/incoming")
    assert incoming["requests"][0]["user"]["email"] is None
    await set_privacy(client, bob, privacyEmail="nobody")
    friends = await get(client, alice, "/api/friends")
    assert friends["friends"][0]["user"]["email"] is None


async def test_literal_routes_win_over_params(client):
    alice = await make_user(client)
    for path in ("/api/friends/blocked", "/api/friends/search", "/api/friends/requests/incoming"):
        resp = await client.get(path, headers=alice.auth)
        assert resp.status == 200, path
    resp = await client.get("/api/friends/request", headers=alice.auth)
    assert resp.status == 405


async def test_unexpected_failures_answer_server_error_with_message_key():
    from aiohttp.test_utils import make_mocked_request

    from chatr_server.api.handlers.friends import _friends_route

    async def boom(request):
        raise RuntimeError("database on fire")

    resp = await _friends_route(boom)(make_mocked_request("GET", "/api/friends"))
    assert resp.status == 500
    assert resp.body == b'{"message":"Server error"}'
