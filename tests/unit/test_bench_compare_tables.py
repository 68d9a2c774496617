"""bench/compare's storm summary, its tables and the per-workload blocks of the doc."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import compare_lib  # noqa: E402


def _storm(wall: float, *, presence: int, violations: int = 0) -> dict[str, Any]:
    """One storm repetition as scripts/loadtest --workload storm reports it."""
    applicable = presence > 0
    return {
        "rep": 1,
        "sockets": 100,
        "connected": 100,
        "failed": 0,
        "wall_s": wall,
        "connects_per_s": 100 / wall,
        "handshake_ms": {"p50": wall * 500, "p90": wall * 800, "p99": wall * 900},
        "events": {
            "socket_ready": 100,
            "presence_update": presence,
            "user_status_online": presence * 2,
        },
        "check": {
            "applicable": applicable,
            "ready_missing": 0,
            "ready_repeated": 0,
            "presence_not_one": 0 if applicable else None,
            "contact_pairs": 400,
            "violations": violations if applicable else None,
            "violation_sample": [],
        },
        "cpu": {
            "server_ms_per_connect": wall,
            "server_pg_ms_per_connect": wall * 2,
            "exited_pg_backends": 0,
        },
        "generator_bound": False,
    }


def _run(*reps: dict[str, Any]) -> dict[str, Any]:
    return {"procs": 1, "storm": {"contacts": 4, "reps": list(reps)}}


META = {
    "date": "2026-01-01 00:00",
    "host": "test",
    "reps": 1,
    "storm_reps": 2,
    "contacts": 4,
    "procs": "auto",
    "scales": [100],
    "servers": {"storm": ["chatr", "node"]},
    "asked": ["chatr", "node", "pysio"],
    "env": "test",
    "loadavg": "0 0 0",
    "argv": "--workloads storm",
    "results_dir": "bench/results/x",
}


def test_storm_summary_takes_medians_and_sums_check_failures():
    chatr = compare_lib.summarize_storm(
        [_run(_storm(2.0, presence=100, violations=3), _storm(4.0, presence=100))]
    )
    assert chatr["storms"] == 2 and chatr["wall_s"] == 3.0
    assert chatr["server_pg_ms"] == 6.0 and chatr["presence_update"] == 100
    assert chatr["violations"] == 3
    # A server that sends no presence has nothing to check.
    node = compare_lib.summarize_storm([_run(_storm(1.0, presence=0))])
    assert node["violations"] is None


def test_storm_table_compares_with_node_and_marks_what_was_not_run():
    results = {
        (100, "chatr"): compare_lib.summarize_storm([_run(_storm(3.0, presence=100))]),
        (100, "node"): compare_lib.summarize_storm([_run(_storm(1.0, presence=0))]),
    }
    table = compare_lib.render_storm(results, META)
    rows = {line.split(" | ")[1]: line for line in table.splitlines() if line.startswith("| 100")}
    assert "| 3.00× |" in rows["chatr_server"]  # wall time vs Node
    assert " | 0 | " in rows["chatr_server"]  # no check failures
    assert " | n/a | " in rows["Node socket.io 4 + pg"]  # nothing to check
    assert rows["python-socketio + asyncpg"].startswith("| 100 | python-socketio + asyncpg | n/a |")
    assert "Reproduce: `bench/compare --workloads storm`" in table


def test_write_doc_replaces_only_its_workload_block(tmp_path):
    doc = tmp_path / "benchmarks.md"
    begin, end = compare_lib.markers("accepted")
    doc.write_text(f"# B\n\n{begin}\nold accepted\n{end}\n\nprose after\n")
    compare_lib.write_doc("storm", "storm table\n", doc)
    compare_lib.write_doc("accepted", "new accepted\n", doc)
    compare_lib.write_doc("storm", "storm table 2\n", doc)
    text = doc.read_text()
    assert "old accepted" not in text and f"{begin}\nnew accepted\n{end}" in text
    assert "prose after" in text
    s_begin, s_end = compare_lib.markers("storm")
    assert text.count(s_begin) == 1 and f"{s_begin}\nstorm table 2\n{s_end}" in text
    assert "### (c) reconnect storm" in text
