"""Websocket writes leave at the end of the event-loop pass: one write per connection.

A transport that records what it is asked to write stands in for the socket: what is
checked is the number of writes and their order, which a real socket does not show.
"""

from __future__ import annotations

import asyncio
from typing import Any

from chatr_server.realtime.ws import OP_TEXT, WsConnection, WsCounter, WsFlusher


class RecordingTransport(asyncio.Transport):
    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.writes: list[list[bytes]] = []
        self.fail = fail
        self.closed = self.aborted = False

    def write(self, data: Any) -> None:
        self.writelines([data])

    def writelines(self, list_of_data: Any) -> None:
        if self.fail:
            raise OSError("broken pipe")
        self.writes.append(list(list_of_data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


class Handler:
    def __init__(self) -> None:
        self.closed: list[str] = []

    def ws_text(self, conn: WsConnection, text: str) -> None: ...

    def ws_binary(self, conn: WsConnection, data: bytes) -> None: ...

    def ws_resumed(self, conn: WsConnection) -> None: ...

    def ws_closed(self, conn: WsConnection, reason: str) -> None:
        self.closed.append(reason)


def _conn(flusher: WsFlusher, transport: RecordingTransport) -> WsConnection:
    conn = WsConnection(
        Handler(), max_size=1 << 20, close_timeout=1.0, counter=WsCounter(), flusher=flusher
    )
    conn.transport = transport
    return conn


async def _next_pass() -> None:
    """Let the callbacks scheduled in this pass (the flush) run."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.call_soon(done.set_result, None)
    await done


async def test_frames_of_one_pass_leave_in_one_write_in_order() -> None:
    flusher = WsFlusher()
    a, b = RecordingTransport(), RecordingTransport()
    conn_a, conn_b = _conn(flusher, a), _conn(flusher, b)
    conn_a.send(b"4one")
    conn_b.send(b"4other")
    big = b"x" * 70_000
    conn_a.send(big)
    conn_a.send(b"4three")
    assert a.writes == [] and b.writes == []  # nothing before the end of the pass
    await _next_pass()
    assert b.writes == [[bytes((0x80 | OP_TEXT, 6)) + b"4other"]]
    (write,) = a.writes
    assert write[0] == bytes((0x81, 4)) + b"4one"
    assert write[1][:2] == bytes((0x81, 127)) and write[2] is big  # a large payload: no copy
    assert write[3] == bytes((0x81, 6)) + b"4three"
    conn_a.send(b"4later")  # the next pass: a write of its own
    await _next_pass()
    assert a.writes[1] == [bytes((0x81, 6)) + b"4later"]


async def test_a_failed_write_aborts_that_connection_only() -> None:
    flusher = WsFlusher()
    broken, fine = RecordingTransport(fail=True), RecordingTransport()
    conn_broken, conn_fine = _conn(flusher, broken), _conn(flusher, fine)
    conn_broken.send(b"4lost")
    conn_fine.send(b"4kept")
    await _next_pass()
    assert broken.aborted and not fine.aborted
    assert fine.writes == [[bytes((0x81, 5)) + b"4kept"]]


async def test_a_protocol_error_writes_what_was_queued_then_closes() -> None:
    flusher = WsFlusher()
    transport = RecordingTransport()
    conn = _conn(flusher, transport)
    conn.send(b"4queued")
    conn._feed(bytes((0x83, 0x80)) + b"\0\0\0\0")  # unknown opcode 3: close with 1002
    assert transport.closed
    (write,) = transport.writes  # flushed before the close, not dropped
    assert write[0] == bytes((0x81, 7)) + b"4queued"
    assert write[1] == bytes((0x88, 2)) + (1002).to_bytes(2, "big")
    await _next_pass()
    assert len(transport.writes) == 1  # the pass's flush finds nothing left
