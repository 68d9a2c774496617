"""The load tester's merge stage: every send is delivered as often as expected, no more."""

from __future__ import annotations

from array import array
from typing import Any

from loadtest.merge import merge
from loadtest.report import describe, trial_result
from loadtest.worker import KEY_SHIFT


def _part(proc: int, expected: list[int], received: list[tuple[int, int, float]]) -> dict[str, Any]:
    """A worker's ``collect`` reply; ``received`` holds (proc, seq, latency s) deliveries."""
    return {
        "proc": proc,
        "t0": 100.0,
        "expected": array("B", expected).tobytes(),
        "rx_keys": array("q", [p << KEY_SHIFT | seq for p, seq, _ in received]).tobytes(),
        "rx_lat": array("d", [lat for *_, lat in received]).tobytes(),
        "rx_sent_at": array("d", [100.5] * len(received)).tobytes(),
        "ack_lat": array("d", [0.002]).tobytes(),
        "ack_at": array("d", [101.2]).tobytes(),
        "rx_status": {"delivered": len(received)},
        "errors": {},
        "late": 0,
    }


def test_merge_counts_loss_duplicates_and_strangers():
    parts = [
        # Worker 0 sent seq 0 (one recipient) and seq 1 (two sockets of the recipient).
        _part(0, [1, 2], [(1, 0, 0.004), (0, 1, 0.001)]),
        # Worker 1 sent seq 0 once; it arrived twice, plus a key nobody sent this trial.
        _part(1, [1], [(0, 0, 0.003), (1, 0, 0.002), (1, 7, 0.009)]),
    ]
    m = merge(parts)
    assert (m.delivered, m.lost, m.duplicates) == (3, 1, 2)
    assert m.latencies == [0.001, 0.002, 0.003, 0.004, 0.009]
    assert m.by_second == {0: [0.004, 0.001, 0.003, 0.002, 0.009]}
    assert m.acks_by_second == {1: 2}


def test_a_clean_trial_passes_and_a_lossy_one_does_not():
    sends = [
        {
            "sent": 2,
            "acked": 2,
            "send_errors": 0,
            "expected": 2,
            "send_elapsed": 1.0,
            "cpu_s": 0.1,
            "wall_s": 1.0,
            "max_behind": 0,
        }
    ]
    common = {"trial": 1, "measured": True, "rate": 2.0, "duration": 1.0, "sends": sends}
    clean = merge([_part(0, [1, 1], [(0, 0, 0.004), (0, 1, 0.006)])])
    r = trial_result(merged=clean, window=(0.0, 1.0), cpu=None, p99_target=100.0, **common)
    assert r["passed"] and (r["delivered"], r["lost"], r["unanswered"]) == (2, 0, 0)
    assert r["latency_ms"]["p99"] == 6.0
    lossy = merge([_part(0, [1, 1], [(0, 0, 0.004)])])
    r = trial_result(merged=lossy, window=(0.0, 1.0), cpu=None, p99_target=100.0, **common)
    assert not r["passed"] and r["lost"] == 1
    assert "lost 1" in describe(r)
