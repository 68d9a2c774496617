"""Measure what forwarding to the owning worker costs (docs/scaling.md).

    python scripts/scaleout_overhead.py [--rounds 500] [--redis-url redis://127.0.0.1:6379/0]

Starts ``python -m chatr_server conformance --workers 2`` on a free port and uses its
Engine.IO echo endpoint. For one session owned by worker A it times sequential echo round
trips sent straight to A and sent to worker B (which forwards polling requests and relays
websocket frames to A), and prints the median and 95th percentile of each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import orjson
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
PATH = "/engine.io/?EIO=4&transport="


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _nodes(redis: Redis, prefix: str) -> dict[str, str]:
    found = {}
    async for key in redis.scan_iter(match=f"{prefix}eio-node:*"):
        value = await redis.get(key)
        if value is not None:
            found[key.decode().rsplit(":", 1)[1]] = value.decode()
    return found


async def _polling_rounds(http: aiohttp.ClientSession, base: str, sid: str, n: int) -> list[float]:
    url = f"{base}{PATH}polling&sid={sid}"
    times = []
    for i in range(n):
        start = time.perf_counter()
        async with http.post(url, data=f"4m{i}") as resp:
            assert resp.status == 200, await resp.text()
        records: list[str] = []
        while f"4m{i}" not in records:
            async with http.get(url) as resp:
                records = (await resp.text()).split("\x1e")
            assert resp.status == 200, records
            if "2" in records:  # answer the protocol ping (suite settings: every 300 ms)
                async with http.post(url, data="3") as resp:
                    assert resp.status == 200
        times.append(time.perf_counter() - start)
    return times


async def _ws_rounds(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[float]:
    times = []
    for i in range(n):
        start = time.perf_counter()
        await ws.send_str(f"4m{i}")
        while True:
            msg = await ws.receive_str()
            if msg == "2":
                await ws.send_str("3")
                continue
            break
        assert msg == f"4m{i}", msg
        times.append(time.perf_counter() - start)
    return times


async def _open(http: aiohttp.ClientSession, base: str) -> str:
    async with http.get(f"{base}{PATH}polling") as resp:
        return orjson.loads((await resp.text())[1:])["sid"]


async def _upgrade(
    http: aiohttp.ClientSession, via: str, sid: str
) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(f"{via}{PATH}websocket&sid={sid}")
    await ws.send_str("2probe")
    assert await ws.receive_str() == "3probe"
    await ws.send_str("5")
    return ws


def _summary(label: str, times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[int(len(ms) * 0.95) - 1]
    return f"{label:<34} median {statistics.median(ms):6.3f} ms   p95 {p95:6.3f} ms"


async def measure(port: int, prefix: str, redis_url: str, rounds: int) -> None:
    redis = Redis.from_url(redis_url)
    try:
        nodes = await _nodes(redis, prefix)
    finally:
        await redis.aclose()
    (a_id, a_url), (_b_id, b_url) = sorted(nodes.items())
    # The sessions' protocol pings every 300 ms (suite settings); keep rounds short.
    async with aiohttp.ClientSession() as http:
        results = []
        for label, via in (("polling, direct to owner", a_url), ("polling, forwarded", b_url)):
            sid = await _open(http, a_url)
            assert sid.startswith(a_id)
            results.append(_summary(label, await _polling_rounds(http, via, sid, rounds)))
        for label, via in (
            ("websocket, direct to owner", a_url),
            ("websocket, upgraded via other", b_url),
        ):
            sid = await _open(http, a_url)
            ws = await _upgrade(http, via, sid)
            results.append(_summary(label, await _ws_rounds(ws, rounds)))
            await ws.close()
    print(f"{rounds} sequential echo round trips per case, loopback:")
    for line in results:
        print("  " + line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args()
    port = _free_port()
    prefix = f"chatr-overhead-{secrets.token_hex(4)}:"
    cluster = ["--workers", "2", "--redis-url", args.redis_url, "--redis-prefix", prefix]
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatr_server", "conformance", "--port", str(port), *cluster],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "Running on" not in line:
            raise SystemExit(f"server did not start: {line!r}")
        asyncio.run(measure(port, prefix, args.redis_url, args.rounds))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
