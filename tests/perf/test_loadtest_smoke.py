"""scripts/loadtest against the real server: a short run loses nothing."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _start(base_settings, port: int, tmp_path) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "DATABASE_URL": base_settings.database_url,
        "JWT_SECRET": base_settings.jwt_secret,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "CHATR_DATA_DIR": str(tmp_path / "var"),
        "UPLOADS_DIR": str(tmp_path / "uploads"),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chatr_server", "serve", env=env, cwd=ROOT
    )
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(f"http://127.0.0.1:{port}/api/health") as resp:
                    if resp.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    proc.kill()
    await proc.wait()
    raise RuntimeError("server did not start")


async def test_loadtest_ten_sockets_two_seconds_loses_nothing(base_settings, tmp_path):
    port = _free_port()
    server = await _start(base_settings, port, tmp_path)
    out = tmp_path / "result.json"
    try:
        lt = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "scripts" / "loadtest"),
            "--url",
            f"http://127.0.0.1:{port}",
            "--seed-sql",
            base_settings.database_url,
            "--jwt-secret",
            base_settings.jwt_secret,
            "--sockets",
            "10",
            "--rate",
            "50",
            "--duration",
            "2",
            "--warmup",
            "0",
            "--grace",
            "3",
            "--procs",
            "1",
            "--server-pid",
            str(server.pid),
            "--json",
            str(out),
            "--quiet",
            cwd=ROOT,
        )
        assert await asyncio.wait_for(lt.wait(), 30) == 0
    finally:
        server.terminate()
        await server.wait()
    report = json.loads(out.read_text())
    assert report["connect"]["connected"] == 10
    (trial,) = report["trials"]
    assert trial["sent"] == 100
    assert trial["lost"] == 0
    assert trial["duplicates"] == 0
    assert trial["errors"] == {}
    assert trial["delivered"] == trial["sent"] == trial["acked"]
    # Pre-created accepted conversations and online recipients: delivered status.
    assert trial["received_status"] == {"delivered": 100}
    assert trial["latency_ms"]["p99"] is not None
    assert trial["cpu"]["server_ms_per_msg"] > 0
    assert report["memory"]["server_rss_connected_mb"] > 0
