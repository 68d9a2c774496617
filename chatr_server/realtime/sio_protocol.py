"""Socket.IO v5 packet codec: text encoding, binary attachments, validation.

Encoding produces Engine.IO frames (see :mod:`eio_protocol`) so that one encode serves
every recipient of a broadcast. Decoding is strict: anything the reference parser would
reject raises :class:`ProtocolError` and nothing else, so the connection handler can close
the connection with "parse error" without ever crashing.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from .eio_protocol import BinaryFrame
from .errors import ProtocolError

CONNECT: Final = 0
DISCONNECT: Final = 1
EVENT: Final = 2
ACK: Final = 3
CONNECT_ERROR: Final = 4
BINARY_EVENT: Final = 5
BINARY_ACK: Final = 6

# Event names the reference parser refuses to receive (they are reserved for the
# library's own lifecycle events on both ends).
RESERVED_EVENTS: Final = frozenset(
    ("connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener")
)
# Ack ids and attachment counts are JS numbers; bounding their digits keeps int() cheap
# and far from CPython's int-parsing limit, while allowing any id a client really uses.
_MAX_NUMBER_DIGITS: Final = 15
# Default cap on attachments per packet: each one may be up to maxPayload bytes and is
# buffered until the packet completes, so an unbounded count would be a memory DoS.
DEFAULT_MAX_ATTACHMENTS: Final = 10


class _Absent:
    """Marker for "packet has no payload" (distinct from a JSON ``null``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()


class Packet:
    """A decoded Socket.IO packet."""

    __slots__ = ("attachments", "data", "id", "namespace", "type")

    def __init__(
        self,
        type: int,
        namespace: str = "/",
        data: Any = ABSENT,
        id: int | None = None,
        attachments: int = 0,
    ) -> None:
        self.type = type
        self.namespace = namespace
        self.data = data
        self.id = id
        self.attachments = attachments

    def __repr__(self) -> str:
        return (
            f"Packet(type={self.type}, namespace={self.namespace!r}, data={self.data!r}, "
            f"id={self.id!r}, attachments={self.attachments})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Packet):
            return NotImplemented
        return (self.type, self.namespace, self.data, self.id, self.attachments) == (
            other.type,
            other.namespace,
            other.data,
            other.id,
            other.attachments,
        )

    __hash__ = None  # type: ignore[assignment]


# ---------------------------------------------------------------------------- encoding

_BINARY_TYPES: Final = (bytes, bytearray, memoryview)
# Engine.IO message prefix "4" + Socket.IO type digit, pre-encoded per type.
_HEADS: Final = tuple(f"4{t}" for t in range(7))


def _deconstruct(data: Any, buffers: list[bytes]) -> Any:
    """Copy ``data`` replacing binary leaves by placeholders (pre-order, like the JS lib)."""
    if isinstance(data, _BINARY_TYPES):
        buffers.append(BinaryFrame(data))
        return {"_placeholder": True, "num": len(buffers) - 1}
    if isinstance(data, (list, tuple)):
        return [_deconstruct(item, buffers) for item in data]
    if isinstance(data, dict):
        return {key: _deconstruct(value, buffers) for key, value in data.items()}
    return data


def encode(
    type: int, namespace: str = "/", data: Any = ABSENT, id: int | None = None
) -> list[bytes]:
    """Encode one packet into Engine.IO frames: a text frame, then binary attachments.

    EVENT/ACK packets whose data contains bytes are turned into BINARY_EVENT/BINARY_ACK
    automatically. Raises TypeError for data that is not JSON serialisable.
    """
    buffers: list[bytes] = []
    if data is ABSENT:
        body = b""
    else:
        try:
            # Fast path: orjson refuses bytes, so plain data is serialised in one call
            # and only payloads that carry binary pay for the placeholder walk.
            body = orjson.dumps(data)
        except TypeError:
            data = _deconstruct(data, buffers)
            body = orjson.dumps(data)
    if buffers:
        if type == EVENT:
            type = BINARY_EVENT
        elif type == ACK:
            type = BINARY_ACK
        head = f"4{type}{len(buffers)}-"
    else:
        head = _HEADS[type]
    if namespace != "/":
        head = f"{head}{namespace},"
    if id is not None:
        head = f"{head}{id}"
    text = head.encode() + body
    if buffers:
        return [text, *buffers]
    return [text]


def encode_event(
    namespace: str, event: str, args: tuple[Any, ...], id: int | None = None
) -> list[bytes]:
    """Encode an EVENT (or BINARY_EVENT) carrying ``[event, *args]``."""
    return encode(EVENT, namespace, [event, *args], id)


# ---------------------------------------------------------------------------- decoding


def _parse_number(text: str) -> int:
    if not text or len(text) > _MAX_NUMBER_DIGITS or not (text.isascii() and text.isdigit()):
        raise ProtocolError(f"invalid number {text[:20]!r}")
    return int(text)


def decode_text(text: str, max_attachments: int = DEFAULT_MAX_ATTACHMENTS) -> Packet:
    """Parse the text part of a packet (``Packet.attachments`` tells how many follow)."""
    size = len(text)
    if size == 0:
        raise ProtocolError("empty packet")
    first = text[0]
    if not ("0" <= first <= "6"):
        raise ProtocolError(f"unknown packet type {first!r}")
    ptype = ord(first) - 48
    pos = 1
    attachments = 0
    if ptype == BINARY_EVENT or ptype == BINARY_ACK:
        dash = text.find("-", pos)
        if dash == -1:
            raise ProtocolError("missing attachment count")
        attachments = _parse_number(text[pos:dash])
        if attachments > max_attachments:
            raise ProtocolError("too many attachments")
        pos = dash + 1
    namespace = "/"
    if pos < size and text[pos] == "/":
        comma = text.find(",", pos)
        if comma == -1:
            namespace = text[pos:]
            pos = size
        else:
            namespace = text[pos:comma]
            pos = comma + 1
    ack_id: int | None = None
    end = pos
    while end < size and "0" <= text[end] <= "9":
        end += 1
    if end > pos:
        ack_id = _parse_number(text[pos:end])
        pos = end
    data: Any = ABSENT
    if pos < size:
        try:
            data = orjson.loads(text[pos:])
        except orjson.JSONDecodeError as exc:
            raise ProtocolError("invalid JSON payload") from exc
    packet = Packet(ptype, namespace, data, ack_id, attachments)
    _validate(packet)
    return packet


def _validate(packet: Packet) -> None:
    """Apply the reference parser's payload rules (socket.io-parser ``isPayloadValid``)."""
    ptype = packet.type
    data = packet.data
    if ptype == CONNECT:
        ok = data is ABSENT or type(data) is dict
    elif ptype == DISCONNECT:
        ok = data is ABSENT
    elif ptype == CONNECT_ERROR:
        ok = type(data) is str or type(data) is dict
    elif ptype == EVENT or ptype == BINARY_EVENT:
        ok = type(data) is list and len(data) > 0
        if ok:
            name = data[0]
            if type(name) is int:
                data[0] = str(name)  # JS allows numeric event names; normalise them
            else:
                ok = type(name) is str and name not in RESERVED_EVENTS
    else:  # ACK / BINARY_ACK
        ok = type(data) is list and packet.id is not None
    if not ok:
        raise ProtocolError(f"invalid payload for packet type {ptype}")


def _is_placeholder(value: dict[str, Any]) -> bool:
    return value.get("_placeholder") is True


def _resolve(value: dict[str, Any], buffers: list[bytes]) -> bytes:
    num = value.get("num")
    if type(num) is not int or not 0 <= num < len(buffers):
        raise ProtocolError("illegal attachment placeholder")
    return buffers[num]


def reconstruct(data: Any, buffers: list[bytes]) -> Any:
    """Replace placeholders in freshly decoded JSON by their attachments (in place).

    Iterative, so hostile nesting depth cannot hit the recursion limit.
    """
    if type(data) is dict:
        if _is_placeholder(data):
            return _resolve(data, buffers)
    elif type(data) is not list:
        return data
    stack: list[Any] = [data]
    while stack:
        node = stack.pop()
        items = enumerate(node) if type(node) is list else node.items()
        for key, value in items:
            kind = type(value)
            if kind is dict:
                if _is_placeholder(value):
                    node[key] = _resolve(value, buffers)
                else:
                    stack.append(value)
            elif kind is list:
                stack.append(value)
    return data


class Decoder:
    """Stateful per-connection decoder that reassembles binary packets."""

    __slots__ = ("_buffers", "_pending", "max_attachments")

    def __init__(self, max_attachments: int = DEFAULT_MAX_ATTACHMENTS) -> None:
        self.max_attachments = max_attachments
        self._pending: Packet | None = None
        self._buffers: list[bytes] | None = None

    def feed_text(self, text: str) -> Packet | None:
        """Feed a text message; return the packet, or None if attachments must follow."""
        if self._pending is not None:
            raise ProtocolError("text message while reconstructing a binary packet")
        packet = decode_text(text, self.max_attachments)
        if packet.attachments:
            self._pending = packet
            self._buffers = []
            return None
        return packet

    def feed_binary(self, data: bytes) -> Packet | None:
        """Feed a binary message (an attachment); return the packet once complete."""
        packet = self._pending
        buffers = self._buffers
        if packet is None or buffers is None:
            raise ProtocolError("unexpected binary message")
        buffers.append(data)
        if len(buffers) < packet.attachments:
            return None
        self._pending = None
        self._buffers = None
        packet.data = reconstruct(packet.data, buffers)
        return packet
