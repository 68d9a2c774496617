"""What the Python baselines share: the token check and the two message payloads.

Imported by bench/pysocketio-baseline/server.py and bench/floor-baseline/server.py
(each puts bench/ on ``sys.path``), so the two differ only in their stack.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

# The one statement per message:send both run, as the Node baseline does.
SEND_SQL = (Path(__file__).resolve().parent / "send.sql").read_text()
USER_SQL = "SELECT id, username, display_name, profile_image, is_guest FROM users WHERE id = $1"


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_token(secret: bytes, token: Any) -> dict[str, Any] | None:
    """The claims of a valid, unexpired HS256 token with a ``userId``; else None."""
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    head, body, sig = token.split(".")
    try:
        if json.loads(_unb64(head)).get("alg") != "HS256":
            return None
        want = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(want, _unb64(sig)):
            return None
        claims = json.loads(_unb64(body))
    except ValueError:
        return None
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] < time.time():
        return None
    return claims if isinstance(claims.get("userId"), str) else None


def payloads(
    me: dict[str, Any], recipient: str, m: Any, temp_id: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``message:received`` for the recipient and ``message:sent`` for the sender, from
    the statement's row ``m`` (the Node baseline's fields, events.md §7.2)."""
    timestamp = m["created_at"].isoformat(timespec="milliseconds").replace("+00:00", "Z")
    conv_id = str(m["conversation_id"]) if m["conversation_id"] else None
    message_id = str(m["id"])
    received = {
        "id": message_id,
        "senderId": me["id"],
        "recipientId": recipient,
        "senderUsername": me["username"],
        "senderDisplayName": me["display_name"],
        "senderProfileImage": me["profile_image"],
        "senderIsGuest": me["is_guest"],
        "content": m["content"],
        "type": m["type"],
        "timestamp": timestamp,
        "status": m["status"],
        "conversationId": conv_id,
        "conversationStatus": m["conversation_status"],
    }
    sent = {
        "id": message_id,
        "senderId": me["id"],
        "recipientId": recipient,
        "content": m["content"],
        "type": m["type"],
        "timestamp": timestamp,
        "status": m["status"],
        "fileUrl": None,
        "fileName": None,
        "fileSize": None,
        "fileType": None,
        "waveform": None,
        "duration": None,
        "conversationId": conv_id,
        "conversationStatus": m["conversation_status"],
    }
    if temp_id is not None:
        sent["tempId"] = temp_id
    return received, sent
