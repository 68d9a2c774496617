"""A client that goes away is not a server error (issue 12).

Raw sockets play the browser: an upload whose body is cut off, a page closed while
its websocket upgrade is answered. The server logs at most one INFO line for each,
never a traceback, and the access log shows no 5xx.
"""

from __future__ import annotations

import asyncio
import re
import socket
import struct
from typing import Any

import pytest

from tests.groups.helpers import group_with
from tests.helpers import make_user

BOUNDARY = "chatrboundary"


async def _send_and_close(port: int, data: bytes, reset: bool = False) -> None:
    """Write ``data`` then close the connection, as a closed tab does (``reset``: RST)."""
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    if reset:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


def _assert_quiet(served: Any, path: str, access: re.Match[str]) -> None:
    """A non-5xx access line and at most one INFO line of ours about the request."""
    assert int(access["status"]) < 500, access[0]
    log = served.log()
    assert "Traceback" not in log and " ERROR " not in log, log
    ours = [line for line in log.splitlines() if "went away" in line]
    assert len(ours) <= 1 and all(" INFO " in line for line in ours), ours


def _access(path: str) -> str:
    return re.escape(path) + r'[^"]* HTTP/1\.1" (?P<status>\d{3}) '


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
async def test_upload_aborted_mid_body_is_not_a_server_error(
    client: Any, serve: Any, reset: bool
) -> None:
    served = await serve()
    owner = await make_user(client)
    gid = await group_with(client, owner)
    path = f"/api/groups/{gid}/upload"
    part = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + b"x" * 50_000
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {owner.token}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {5 * 1024 * 1024}\r\n\r\n"
    ).encode()
    await _send_and_close(served.port, head + part, reset=reset)
    _assert_quiet(served, path, await served.wait_log(_access(path)))


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
async def test_page_closed_during_websocket_upgrade_is_not_an_error(
    serve: Any, reset: bool
) -> None:
    served = await serve()
    path = "/socket.io/?EIO=4&transport=websocket"
    head = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    await _send_and_close(served.port, head, reset=reset)
    _assert_quiet(served, path, await served.wait_log(_access("/socket.io/")))
