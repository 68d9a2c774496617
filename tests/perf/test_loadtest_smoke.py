"""scripts/loadtest against the real server: a short run loses nothing."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections import Counter
from pathlib import Path

import asyncpg

from loadtest import verify
from tests.helpers import free_port, start_server

ROOT = Path(__file__).resolve().parents[2]


async def test_loadtest_ten_sockets_two_seconds_loses_nothing(base_settings, tmp_path):
    port = free_port()
    server = await start_server(base_settings, port, tmp_path)
    out = tmp_path / "result.json"
    try:
        lt = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "scripts" / "loadtest"),
            "--url",
            f"http://127.0.0.1:{port}",
            "--seed-sql",
            base_settings.database_url,
            # One argument: a generated secret may start with "-".
            f"--jwt-secret={base_settings.jwt_secret}",
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
            "--verify-db",
            base_settings.database_url,
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
    assert trial["unanswered"] == trial["send_errors"] == 0
    assert sum(trial["acks_per_second"]) == 100
    v = report["verify"]
    assert v["acked"] == 100
    assert v["acked_missing"] == 0
    assert v["error_events"] == {} and v["disconnects"] == 0 and v["unanswered"] == 0


async def test_verify_reports_acked_ids_missing_from_the_database(base_settings):
    conn = await asyncpg.connect(base_settings.database_url)
    try:
        stored = await conn.fetchval("SELECT id FROM messages LIMIT 1")
    finally:
        await conn.close()
    ghost = uuid.uuid4()
    ids = [ghost] if stored is None else [stored, ghost, stored]
    raw = b"".join(i.bytes for i in ids)
    assert verify.split_ids(raw) == ids
    missing = await verify.missing_ids(base_settings.database_url, verify.split_ids(raw))
    assert missing == [ghost]
    errors = Counter({"error: Failed to send message": 3, "disconnected: engine close": 1})
    summary = verify.summarize(len(ids), missing, errors, unanswered=2)
    assert summary["acked_missing"] == 1
    assert summary["missing_sample"] == [str(ghost)]
    assert summary["error_events"] == {"error: Failed to send message": 3}
    assert summary["disconnects"] == 1 and summary["unanswered"] == 2
