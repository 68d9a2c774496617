"""Engine.IO v4 packet and payload codec (pure functions, no I/O).

Outgoing packets are "frames" that are ready to hit the wire: a plain ``bytes`` object
is a complete UTF-8 text packet (type digit included, e.g. ``b"4hello"`` or ``b"2"``)
and a :class:`BinaryFrame` is a binary message. Keeping text as UTF-8 bytes lets the
Socket.IO layer encode a broadcast once (orjson produces bytes) and hand the very same
objects to every recipient: websocket writes them as TEXT frames without a str round
trip, long-polling joins them into the response body.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable
from typing import Final

from .errors import ProtocolError

# Packet type digits of Engine.IO v4 (protocol spec, "Packet encoding").
OPEN: Final = "0"
CLOSE: Final = "1"
PING: Final = "2"
PONG: Final = "3"
MESSAGE: Final = "4"
UPGRADE: Final = "5"
NOOP: Final = "6"
_VALID_TYPES: Final = frozenset("0123456")

# Packets in a long-polling payload are separated by the ASCII record separator, which
# cannot appear unescaped in JSON text (spec: "HTTP long-polling").
RECORD_SEPARATOR: Final = "\x1e"
_RECORD_SEPARATOR_B: Final = b"\x1e"
# Binary packets inside a polling payload are "b" + base64 (v4 has no other binary form).
BINARY_PREFIX: Final = "b"


class BinaryFrame(bytes):
    """A binary message frame (raw websocket binary frame / ``b``+base64 over polling)."""

    __slots__ = ()


Frame = bytes  # plain bytes = UTF-8 text packet; BinaryFrame = binary message

# Pre-built control frames, shared by every session.
PING_FRAME: Final = b"2"
CLOSE_FRAME: Final = b"1"
NOOP_FRAME: Final = b"6"
PROBE_PONG_FRAME: Final = b"3probe"


def message_frame(data: str | bytes | bytearray | memoryview) -> bytes:
    """Frame an application message: text gets the ``4`` prefix, binary stays raw."""
    if isinstance(data, str):
        return b"4" + data.encode()
    return BinaryFrame(data)


def decode_packet(text: str) -> tuple[str, str]:
    """Split a text packet into ``(type_digit, data)``; raise ProtocolError if malformed."""
    if not text:
        raise ProtocolError("empty packet")
    kind = text[0]
    if kind not in _VALID_TYPES:
        raise ProtocolError(f"unknown packet type {kind!r}")
    return kind, text[1:]


def decode_payload(body: str) -> list[tuple[str, str | bytes]]:
    """Decode a long-polling POST body into ``(type_digit, data)`` tuples.

    Binary packets come back as ``(MESSAGE, bytes)``.
    """
    if not body:
        raise ProtocolError("empty payload")
    packets: list[tuple[str, str | bytes]] = []
    for part in body.split(RECORD_SEPARATOR):
        if part[:1] == BINARY_PREFIX:
            try:
                packets.append((MESSAGE, binascii.a2b_base64(part[1:], strict_mode=True)))
            except (binascii.Error, ValueError) as exc:
                raise ProtocolError("invalid base64 packet") from exc
        else:
            packets.append(decode_packet(part))
    return packets


def encode_payload(frames: Iterable[bytes]) -> bytes:
    """Join queued frames into one long-polling response body (UTF-8 bytes)."""
    return _RECORD_SEPARATOR_B.join(
        b"b" + binascii.b2a_base64(f, newline=False) if type(f) is BinaryFrame else f
        for f in frames
    )
