"""bench/baseline_common.py: the token check and payloads the Python baselines share.

The comparison in docs/benchmarks.md is only fair if the baselines refuse what
chatr_server refuses at the handshake and send the fields the load generator and
the web client read.
"""

from __future__ import annotations

import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import jwt

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import baseline_common

SECRET = b"bench-secret-bench-secret-bench-secret"


def _token(claims: dict[str, object], secret: bytes = SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=alg)


def test_a_valid_token_gives_its_claims():
    claims = {"userId": "u-1", "exp": int(time.time()) + 60}
    assert baseline_common.verify_token(SECRET, _token(claims)) == claims


def test_bad_tokens_are_refused():
    later = int(time.time()) + 60
    refused = [
        None,
        42,
        "not-a-token",
        "a.b.c",
        _token({"userId": "u-1", "exp": later}, secret=b"another-secret-another-secret-xx"),
        _token({"userId": "u-1", "exp": int(time.time()) - 1}),
        _token({"userId": "u-1"}),
        _token({"userId": 7, "exp": later}),
        _token({"userId": "u-1", "exp": later}, secret=SECRET * 2, alg="HS512"),
    ]
    for token in refused:
        assert baseline_common.verify_token(SECRET, token) is None, token


def test_payloads_carry_the_node_baselines_fields():
    me = {
        "id": "s-1",
        "username": "sam",
        "display_name": "Sam",
        "profile_image": None,
        "is_guest": False,
    }
    message_id, conversation_id = uuid.uuid4(), uuid.uuid4()
    row = {
        "id": message_id,
        "content": "hi",
        "type": "text",
        "status": "delivered",
        "created_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "conversation_id": conversation_id,
        "conversation_status": "accepted",
    }
    received, sent = baseline_common.payloads(me, "r-1", row, "t-1")
    assert received == {
        "id": str(message_id),
        "senderId": "s-1",
        "recipientId": "r-1",
        "senderUsername": "sam",
        "senderDisplayName": "Sam",
        "senderProfileImage": None,
        "senderIsGuest": False,
        "content": "hi",
        "type": "text",
        "timestamp": "2026-01-02T03:04:05.678Z",
        "status": "delivered",
        "conversationId": str(conversation_id),
        "conversationStatus": "accepted",
    }
    assert sent["tempId"] == "t-1" and sent["timestamp"] == received["timestamp"]
    assert sent["fileUrl"] is None and sent["conversationId"] == str(conversation_id)
    # No temp id, no conversation: neither appears as a value.
    _, plain = baseline_common.payloads(me, "r-1", {**row, "conversation_id": None}, None)
    assert "tempId" not in plain and plain["conversationId"] is None
