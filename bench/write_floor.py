#!/usr/bin/env python3
"""What one small loopback write costs the writing process on this machine.

    bench/write_floor.py [--sockets 2000] [--rate 1600] [--seconds 10]

A reader process holds N TCP connections on 127.0.0.1 and drains them with an
event loop, like a load generator's clients; the writer sends 200-byte
messages round-robin over the N sockets at a fixed rate, one ``send`` per
message, and reports its own CPU time (utime + stime) per write. That is the
floor any server pays per websocket frame or database query it writes on a
loopback benchmark: delivering a direct message takes at least two frame
writes (``message:received`` to the recipient, ``message:sent`` to the
sender), plus the database write, whatever the language of the server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import time

PAYLOAD = b"x" * 200


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


async def _reader(port: int, count: int, ready: socket.socket) -> None:
    loop = asyncio.get_running_loop()

    class Drain(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            pass

    for _ in range(count):
        await loop.create_connection(Drain, "127.0.0.1", port)
    ready.send(b"1")
    await asyncio.Event().wait()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sockets", type=int, default=2000)
    p.add_argument("--rate", type=float, default=1600.0, help="writes per second")
    p.add_argument("--seconds", type=float, default=10.0)
    args = p.parse_args()

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    port = listener.getsockname()[1]
    parent, child = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        listener.close()
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        asyncio.run(_reader(port, args.sockets, child))
        os._exit(0)
    conns = []
    for _ in range(args.sockets):
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns.append(conn)
    parent.recv(1)
    total = int(args.rate * args.seconds)
    idle_cpu, _ = _paced(total, args.rate, None)  # the pacing loop alone
    cpu, wall = _paced(total, args.rate, conns)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    per_write = 1e6 * (cpu - idle_cpu) / total
    print(
        f"{total} writes of {len(PAYLOAD)} B over {args.sockets} sockets at {total / wall:.0f}/s: "
        f"{per_write:.1f} µs of writer CPU per write (pacing loop subtracted)"
    )
    return 0


def _paced(total: int, rate: float, conns: list[socket.socket] | None) -> tuple[float, float]:
    """Run ``total`` paced iterations, sending one message each if ``conns``; (cpu, wall)."""
    interval = 1.0 / rate
    cpu0, start = _cpu_seconds(), time.perf_counter()
    for i in range(total):
        delay = start + i * interval - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        if conns is not None:
            conns[i % len(conns)].send(PAYLOAD)
    return _cpu_seconds() - cpu0, time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
