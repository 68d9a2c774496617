"""scripts/loadtest against the real server: a short run of each workload, checked."""

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


async def _run_loadtest(base_settings, tmp_path, *extra: str) -> dict:
    """scripts/loadtest with SQL seeding against a real server; its JSON report."""
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
            "--server-pid",
            str(server.pid),
            "--json",
            str(out),
            "--quiet",
            *extra,
            cwd=ROOT,
        )
        assert await asyncio.wait_for(lt.wait(), 60) == 0
    finally:
        server.terminate()
        await server.wait()
    return json.loads(out.read_text())


async def test_loadtest_ten_sockets_two_seconds_loses_nothing(base_settings, tmp_path):
    report = await _run_loadtest(
        base_settings,
        tmp_path,
        *("--sockets", "10", "--rate", "50", "--duration", "2", "--warmup", "0"),
        *("--grace", "3", "--procs", "1", "--verify-db", base_settings.database_url),
    )
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
    assert trial["cpu"]["server_ms_per_msg"] >= 0  # clock ticks: see the storm test
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


async def test_first_contacts_open_new_pairs_and_lose_nothing(base_settings, tmp_path):
    report = await _run_loadtest(
        base_settings,
        tmp_path,
        *("--workload", "first", "--sockets", "20", "--rate", "50", "--duration", "2"),
        *("--warmup", "0", "--grace", "3", "--procs", "1"),
        *("--verify-db", base_settings.database_url),
    )
    assert report["workload"] == "first" and report["partners"] == 0
    assert report["connect"]["connected"] == 20
    (trial,) = report["trials"]
    assert trial["sent"] == 100
    assert trial["lost"] == 0 and trial["duplicates"] == 0 and trial["errors"] == {}
    # Every message reaches its recipient, pending requests included.
    assert trial["delivered"] == trial["sent"] == trial["acked"]
    assert trial["latency_ms"]["p99"] is not None
    assert 0 <= trial["cpu"]["server_ms_per_msg"] <= trial["cpu"]["server_pg_ms_per_msg"]
    # A first contact is a message request, stored as 'sent'.
    assert trial["received_status"].get("sent", 0) > 0
    assert report["verify"]["acked"] == 100 and report["verify"]["acked_missing"] == 0
    conn = await asyncpg.connect(base_settings.database_url)
    try:
        prefix = f"@lt\\_{report['run_id']}\\_%"
        pairs = await conn.fetchval(
            "SELECT count(*) FROM conversations c JOIN users u ON u.id = c.participant_a "
            "WHERE u.username LIKE $1",
            prefix,
        )
        friendships = await conn.fetchval(
            "SELECT count(*) FROM friendships f JOIN users u ON u.id = f.requester_id "
            "WHERE u.username LIKE $1",
            prefix,
        )
    finally:
        await conn.close()
    assert friendships == 0  # seeded as users only
    assert pairs > 20  # the sends opened conversations between random pairs


async def test_reconnect_storm_tells_every_contact_twice_over(base_settings, tmp_path):
    report = await _run_loadtest(
        base_settings,
        tmp_path,
        *("--workload", "storm", "--sockets", "20", "--contacts", "4", "--storm-reps", "2"),
        *("--procs", "2"),
    )
    assert report["workload"] == "storm" and report["partners"] == 4
    storm = report["storm"]
    assert storm["contacts"] == 4 and storm["violations"] == 0
    assert [r["rep"] for r in storm["reps"]] == [1, 2]
    # Before the second storm every socket was closed and the disconnects measured.
    assert "disconnect" not in storm["reps"][0]
    gone = storm["reps"][1]["disconnect"]
    assert gone["closed"] == 20 and gone["settle_s"] >= 0
    assert 0 <= gone["server_ms_per_disconnect"] <= gone["server_pg_ms_per_disconnect"]
    for rep in storm["reps"]:
        assert rep["connected"] == 20 and rep["failed"] == 0 and rep["errors"] == {}
        assert rep["wall_s"] > 0 and rep["connects_per_s"] > 0
        assert rep["handshake_ms"]["p50"] is not None and rep["handshake_ms"]["p99"] is not None
        # /proc counts CPU in clock ticks (10 ms); 20 connects may fit in none,
        # so only the shape is checked here (tests/unit/test_procstat.py checks
        # that CPU is counted).
        assert rep["cpu"]["server_ms_per_connect"] >= 0
        assert rep["cpu"]["server_pg_ms_per_connect"] >= rep["cpu"]["server_ms_per_connect"]
        assert rep["machine"]["other_cores"] >= 0 and rep["generator_cpu_fraction"]
        assert rep["listen_overflows"] >= 0  # machine-wide kernel counter
        check = rep["check"]
        assert check["applicable"] is True
        assert check["contact_pairs"] == 20 * 4
        assert check["violations"] == 0 and check["violation_sample"] == []
        assert check["ready_missing"] == check["ready_repeated"] == 0
        assert check["presence_not_one"] == 0
        assert rep["events"]["socket_ready"] == 20
        assert rep["events"]["presence_update"] == 20
        # Whoever connected earlier is told by user:status; at least one pair was.
        assert 0 < rep["events"]["user_status_online"] <= 20 * 4
