"""Packet codecs: known vectors, malformed input, and hypothesis properties/fuzzing.

The contract under test: the parsers return a value or raise ProtocolError, nothing else.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatr_server.realtime import ProtocolError
from chatr_server.realtime import eio_protocol as eio
from chatr_server.realtime import sio_protocol as sio
from chatr_server.realtime.eio_protocol import BinaryFrame

FUZZ = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Structured strategies are ~10x costlier to generate; fewer examples keep the suite fast.
FUZZ_STRUCTURED = settings(FUZZ, max_examples=400)

# ------------------------------------------------------------------ Engine.IO


def test_eio_decode_packet() -> None:
    assert eio.decode_packet("4hello") == ("4", "hello")
    assert eio.decode_packet("2probe") == ("2", "probe")
    assert eio.decode_packet("6") == ("6", "")
    for bad in ("", "7", "abc", "b", "\x1e"):
        with pytest.raises(ProtocolError):
            eio.decode_packet(bad)


def test_eio_payloads() -> None:
    assert eio.decode_payload("4hello\x1ebAQIDBA==\x1e3") == [
        ("4", "hello"),
        ("4", b"\x01\x02\x03\x04"),
        ("3", ""),
    ]
    for bad in ("", "4a\x1e", "bAQ=!", "b====", "\x1e4a"):
        with pytest.raises(ProtocolError):
            eio.decode_payload(bad)
    frames = [b"4hello", BinaryFrame(b"\x01\x02\x03\x04"), b"2"]
    assert eio.encode_payload(frames) == b"4hello\x1ebAQIDBA==\x1e2"
    assert eio.message_frame("é") == "4é".encode()
    assert type(eio.message_frame(b"\x00")) is BinaryFrame


@FUZZ
@given(st.text())
def test_eio_decode_payload_never_raises_unexpectedly(body: str) -> None:
    try:
        packets = eio.decode_payload(body)
    except ProtocolError:
        return
    assert all(kind in "0123456" for kind, _ in packets)


text_or_binary = st.one_of(
    st.text().map(lambda t: eio.message_frame(t)),
    st.binary().map(BinaryFrame),
)


@settings(FUZZ, max_examples=1000)
@given(st.lists(text_or_binary, min_size=1, max_size=8))
def test_eio_payload_round_trip(frames: list[bytes]) -> None:
    # Text containing the separator cannot be framed over polling (JSON never contains it).
    frames = [f for f in frames if type(f) is BinaryFrame or b"\x1e" not in f] or [b"4x"]
    decoded = eio.decode_payload(eio.encode_payload(frames).decode())
    expected = [
        ("4", bytes(f)) if type(f) is BinaryFrame else ("4", f[1:].decode()) for f in frames
    ]
    assert decoded == expected


# ------------------------------------------------------------------ Socket.IO

SUITE_VECTORS: list[tuple[str, sio.Packet]] = [
    ("0", sio.Packet(sio.CONNECT)),
    ('0{"token":"123"}', sio.Packet(sio.CONNECT, data={"token": "123"})),
    ("0/custom,", sio.Packet(sio.CONNECT, "/custom")),
    ("0/custom", sio.Packet(sio.CONNECT, "/custom")),
    ('0/custom,{"token":"abc"}', sio.Packet(sio.CONNECT, "/custom", {"token": "abc"})),
    ("1/custom", sio.Packet(sio.DISCONNECT, "/custom")),
    (
        '2["message",1,"2",{"3":[true]}]',
        sio.Packet(sio.EVENT, data=["message", 1, "2", {"3": [True]}]),
    ),
    ('2456["message-with-ack"]', sio.Packet(sio.EVENT, data=["message-with-ack"], id=456)),
    ('3/admin,13["bar"]', sio.Packet(sio.ACK, "/admin", ["bar"], 13)),
    (
        '52-789["m",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
        sio.Packet(
            sio.BINARY_EVENT,
            data=["m", {"_placeholder": True, "num": 0}, {"_placeholder": True, "num": 1}],
            id=789,
            attachments=2,
        ),
    ),
]


@pytest.mark.parametrize(("text", "packet"), SUITE_VECTORS)
def test_sio_decode_vectors(text: str, packet: sio.Packet) -> None:
    assert sio.decode_text(text) == packet


@pytest.mark.parametrize(
    "text",
    [
        "",
        "7",
        "abc",
        "2{}",
        "2[]",
        "2[1.5]",
        '2["connect"]',
        '2["disconnect",1]',
        '2abc["message"]',
        "2[",
        "3[]",  # ACK without id
        '3{"a":1}',
        '0"string auth"',
        "0[]",
        "1{}",
        "4",
        "5[]",  # no attachment count
        '5x-["a"]',
        '511-["a"]',  # more attachments than allowed
        "2" + "9" * 30 + '["a"]',
        '2["\\ud800"]',  # lone surrogate: not representable
    ],
)
def test_sio_decode_rejects(text: str) -> None:
    with pytest.raises(ProtocolError):
        sio.decode_text(text)


def test_sio_encode_vectors() -> None:
    assert sio.encode(sio.CONNECT, "/", {"sid": "abc"}) == [b'40{"sid":"abc"}']
    assert sio.encode(sio.CONNECT_ERROR, "/random", {"message": "Invalid namespace"}) == [
        b'44/random,{"message":"Invalid namespace"}'
    ]
    assert sio.encode(sio.DISCONNECT, "/custom") == [b"41/custom,"]
    assert sio.encode_event("/", "message-back", (1, "2", {"3": [True]})) == [
        b'42["message-back",1,"2",{"3":[true]}]'
    ]
    assert sio.encode(sio.ACK, "/", [1, "2", {"3": [False]}], 456) == [
        b'43456[1,"2",{"3":[false]}]'
    ]
    frames = sio.encode(sio.ACK, "/", [b"\x01\x02\x03", bytearray(b"\x04\x05\x06")], 789)
    assert frames == [
        b'462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
        b"\x01\x02\x03",
        b"\x04\x05\x06",
    ]
    assert all(type(f) is BinaryFrame for f in frames[1:])
    # Pre-order numbering, dict order kept, tuples become arrays.
    frames = sio.encode_event("/x", "e", ({"b": b"1", "a": [b"2", (b"3",)]}, b"4"))
    assert frames[0] == (
        b'454-/x,["e",{"b":{"_placeholder":true,"num":0},"a":[{"_placeholder":true,"num":1},'
        b'[{"_placeholder":true,"num":2}]]},{"_placeholder":true,"num":3}]'
    )
    assert frames[1:] == [b"1", b"2", b"3", b"4"]
    with pytest.raises(TypeError):
        sio.encode_event("/", "e", (object(),))


def test_sio_decoder_reassembles_binary() -> None:
    decoder = sio.Decoder()
    assert decoder.feed_text('51-["up",{"_placeholder":true,"num":0},{"k":[1]}]') is None
    with pytest.raises(ProtocolError):
        decoder.feed_text("2[]")  # text while an attachment is pending
    decoder = sio.Decoder()
    assert decoder.feed_text('452-1["up",{"_placeholder":true,"num":1}]'[1:]) is None
    assert decoder.feed_binary(b"a") is None
    packet = decoder.feed_binary(b"b")
    assert packet is not None and packet.data == ["up", b"b"] and packet.id == 1
    with pytest.raises(ProtocolError):
        decoder.feed_binary(b"stray")
    bad = sio.Decoder()
    bad.feed_text('51-["up",{"_placeholder":true,"num":5}]')
    with pytest.raises(ProtocolError):
        bad.feed_binary(b"x")


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"])),
    st.binary(max_size=16),
)
json_data = st.recursive(
    json_leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.text(max_size=5).filter(lambda k: k != "_placeholder"), children, max_size=4
        ),
    ),
    max_leaves=8,
)


@FUZZ_STRUCTURED
@given(
    st.sampled_from(["/", "/chat", "/a,b"]).filter(lambda n: "," not in n),
    st.text(min_size=1, max_size=10).filter(lambda e: e not in sio.RESERVED_EVENTS),
    st.lists(json_data, max_size=4),
    st.one_of(st.none(), st.integers(min_value=0, max_value=10**12)),
)
def test_sio_event_round_trip(namespace: str, event: str, args: list[Any], ack: int | None) -> None:
    frames = sio.encode_event(namespace, event, tuple(args), ack)
    decoder = sio.Decoder(max_attachments=1000)
    assert frames[0][:1] == b"4"
    packet = decoder.feed_text(frames[0][1:].decode())
    for attachment in frames[1:]:
        assert packet is None
        packet = decoder.feed_binary(bytes(attachment))
    assert packet is not None
    assert packet.namespace == namespace and packet.id == ack
    assert packet.data == [event, *args]
    assert packet.type == (sio.BINARY_EVENT if len(frames) > 1 else sio.EVENT)


@FUZZ
@given(st.text())
def test_sio_decode_text_fuzz(text: str) -> None:
    try:
        sio.decode_text(text)
    except ProtocolError:
        pass


header = st.sampled_from(["0", "1", "2", "3", "4", "5", "6", "51-", "52-", "60-", "2/x,", "3/y,1"])
json_texts = json_data.map(
    lambda d: orjson.dumps(d, default=lambda b: {"_placeholder": True, "num": len(b)}).decode()
)


@FUZZ_STRUCTURED
@given(
    st.lists(
        st.one_of(
            st.tuples(header, st.sampled_from(["", "1", "42", "x"]), json_texts).map(
                lambda t: "".join(t)
            ),
            st.text(max_size=20),
            st.binary(max_size=8),
        ),
        max_size=10,
    )
)
def test_sio_decoder_fuzz_sequences(messages: list[str | bytes]) -> None:
    """Structured-ish garbage in any order: only ProtocolError may come out."""
    decoder = sio.Decoder()
    for message in messages:
        try:
            if isinstance(message, str):
                decoder.feed_text(message)
            else:
                decoder.feed_binary(message)
        except ProtocolError:
            decoder = sio.Decoder()  # the connection would be closed; start over


def test_reconstruct_deep_nesting_is_safe() -> None:
    deep = "[" * 1000 + "]" * 1000
    try:
        sio.reconstruct(orjson.loads(deep), [])
    except orjson.JSONDecodeError:
        pass  # orjson refuses nesting this deep; either way no RecursionError
    data: Any = [{"_placeholder": True, "num": 0}]
    for _ in range(5000):
        data = [data]
    assert sio.reconstruct(data, [b"x"]) is data
