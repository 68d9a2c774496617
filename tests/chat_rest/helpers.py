"""Helpers for the chat REST tests: direct SQL setup and sample files.

Relationships (friendships, blocks, conversations) and text messages are
written straight into the test database: the routes that create them belong
to other parts of the server, and these tests only need the rows to exist.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from datetime import datetime
from typing import Any

import asyncpg
from PIL import Image


async def befriend(db: asyncpg.Connection, a: str, b: str, status: str = "accepted") -> str:
    return str(
        await db.fetchval(
            "INSERT INTO friendships (requester_id, addressee_id, status) VALUES ($1, $2, $3) "
            "RETURNING id",
            a,
            b,
            status,
        )
    )


async def block(db: asyncpg.Connection, blocker: str, blocked: str) -> str:
    return await befriend(db, blocker, blocked, "blocked")


async def conversation(
    db: asyncpg.Connection, initiator: str, other: str, status: str = "pending"
) -> str:
    lo, hi = sorted([initiator, other])
    return str(
        await db.fetchval(
            "INSERT INTO conversations (participant_a, participant_b, initiator_id, status) "
            "VALUES ($1, $2, $3, $4) RETURNING id",
            lo,
            hi,
            initiator,
            status,
        )
    )


async def insert_message(
    db: asyncpg.Connection,
    sender: str,
    recipient: str,
    content: str = "hi",
    *,
    created_at: datetime | None = None,
    **columns: Any,
) -> str:
    values: dict[str, Any] = {
        "sender_id": sender,
        "recipient_id": recipient,
        "content": content,
        **columns,
    }
    if created_at is not None:
        values["created_at"] = created_at
    names = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    return str(
        await db.fetchval(
            f"INSERT INTO messages ({names}) VALUES ({params}) RETURNING id", *values.values()
        )
    )


async def set_privacy(db: asyncpg.Connection, user_id: str, **levels: str) -> None:
    for column, level in levels.items():
        await db.execute(f"UPDATE users SET {column} = $2 WHERE id = $1", user_id, level)


def png_bytes(
    size: tuple[int, int] = (64, 48), colour: tuple[int, int, int] = (200, 30, 30)
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def jpeg_bytes(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(out, "JPEG")
    return out.getvalue()


def wav_bytes(seconds: float = 1.5, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(i / 8))) for i in range(int(seconds * rate))
        )
        w.writeframes(frames)
    return out.getvalue()
