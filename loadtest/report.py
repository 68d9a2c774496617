"""Report stage: a trial's figures as a JSON-ready dict, its one-line summary, the output."""

from __future__ import annotations

import math
import os
import sys
from array import array
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from loadtest import procstat
from loadtest.merge import Merged


def pct(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[i]


def ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000.0, 2)


def quantiles_ms(sorted_values: list[float]) -> dict[str, float | None]:
    """p50, p90, p99 and max of sorted seconds, in milliseconds."""
    return {
        "p50": ms(pct(sorted_values, 0.50)),
        "p90": ms(pct(sorted_values, 0.90)),
        "p99": ms(pct(sorted_values, 0.99)),
        "max": ms(sorted_values[-1] if sorted_values else None),
    }


def connect_times(parts: list[dict[str, Any]]) -> tuple[list[float], Counter[str]]:
    """The workers' ``connect`` replies: every socket's handshake time (sorted), the errors."""
    times: list[float] = []
    errors: Counter[str] = Counter()
    for part in parts:
        a = array("d")
        a.frombytes(part["times"])
        times.extend(a)
        errors.update(part["errors"])
    times.sort()
    return times, errors


def trial_result(
    *,
    trial: int,
    measured: bool,
    rate: float,
    duration: float,
    sends: list[dict[str, Any]],
    merged: Merged,
    window: tuple[float, float],
    cpu: tuple[procstat.Sample, procstat.Sample] | None,
    p99_target: float,
) -> dict[str, Any]:
    """The figures of one trial from the workers' send reports and the merged deliveries."""
    m = merged
    lat, ack = m.latencies, m.ack_latencies
    t_begin, t_end = window
    sent = sum(s["sent"] for s in sends)
    acked = sum(s["acked"] for s in sends)
    send_errors = sum(s["send_errors"] for s in sends)
    send_elapsed = max(s["send_elapsed"] for s in sends) or duration
    gen_cpu = [s["cpu_s"] / max(s["wall_s"], 1e-9) for s in sends]
    result: dict[str, Any] = {
        "trial": trial,
        "measured": measured,
        "offered_rate": rate,
        "duration_s": duration,
        "sent": sent,
        "send_rate": round(sent / send_elapsed, 1),
        "acked": acked,
        "send_errors": send_errors,
        # Sends answered by neither message:sent nor error/message:blocked within the grace.
        "unanswered": max(0, sent - acked - send_errors),
        "expected_deliveries": sum(s["expected"] for s in sends),
        "delivered": m.delivered,
        "delivered_per_s": round(m.delivered / send_elapsed, 1),
        "lost": m.lost,
        "duplicates": m.duplicates,
        "late_from_earlier_trials": m.late,
        "latency_ms": quantiles_ms(lat),
        "ack_latency_ms": {
            "p50": ms(pct(ack, 0.50)),
            "p99": ms(pct(ack, 0.99)),
            "max": ms(ack[-1] if ack else None),
        },
        # Latency by the second the message was sent in: a steady climb means the
        # server (or the machine) fell behind; isolated peaks mean stalls.
        "timeline": [
            {
                "second": sec,
                "delivered": len(v),
                "p50_ms": ms(pct(sorted(v), 0.5)),
                "p99_ms": ms(pct(sorted(v), 0.99)),
            }
            for sec, v in sorted(m.by_second.items())
        ],
        # Acks received per second since the start of sending: the server's pace.
        "acks_per_second": [
            m.acks_by_second[s] for s in range(max(m.acks_by_second, default=-1) + 1)
        ],
        "received_status": dict(m.statuses),
        "errors": dict(m.errors),
        "generator_cpu_fraction": [round(g, 2) for g in gen_cpu],
        "generator_max_burst": max(s["max_behind"] for s in sends),
        "window_s": round(t_end - t_begin, 3),
    }
    if cpu is not None:
        gen = sum(s["cpu_s"] for s in sends)
        result.update(_cpu_figures(*cpu, t_end - t_begin, gen, m.delivered))
    sockets_closed = any("closed" in e for e in m.errors)
    result["sockets_closed"] = sockets_closed
    result["generator_bound"] = bool(
        max(gen_cpu) > 0.85 or (sent < 0.97 * rate * duration and not sockets_closed)
    )
    result["passed"] = bool(
        m.lost == 0
        and m.duplicates == 0
        and not m.errors
        and result["latency_ms"]["p99"] is not None
        and result["latency_ms"]["p99"] < p99_target
        and sent >= 0.97 * rate * duration
    )
    return result


def _cpu_figures(
    before: procstat.Sample, after: procstat.Sample, window: float, gen: float, delivered: int
) -> dict[str, Any]:
    """Machine, server and PostgreSQL CPU over the trial window, per delivered message."""
    srv, srv_gone = procstat.cpu_delta(before.server_pids, after.server_pids)
    pg, pg_gone = procstat.cpu_delta(before.pg_pids, after.pg_pids)
    per = max(delivered, 1)
    busy = after.machine_busy_s - before.machine_busy_s
    return {
        "machine": {
            "cores": os.cpu_count(),
            "busy_cores": round(busy / window, 2),
            # Everything else on the machine: other tenants, other databases.
            "other_cores": round(max(0.0, busy - srv - pg - gen) / window, 2),
            "generator_cores": round(gen / window, 2),
        },
        "cpu": {
            "server_s": round(srv, 3),
            "postgres_s": round(pg, 3),
            "server_util": round(srv / window, 3),
            "server_ms_per_msg": round(srv * 1000.0 / per, 4),
            "server_pg_ms_per_msg": round((srv + pg) * 1000.0 / per, 4),
            # Processes that exited during the window: their last CPU slice is missing.
            "exited_server_processes": srv_gone,
            "exited_pg_backends": pg_gone,
        },
    }


def describe(r: dict[str, Any]) -> str:
    """One line for a trial result."""
    lat = r["latency_ms"]
    line = (
        f"rate {r['offered_rate']:.0f}/s: sent {r['send_rate']:.0f}/s, delivered "
        f"{r['delivered_per_s']:.0f}/s, p50 {lat['p50']} p90 {lat['p90']} p99 {lat['p99']} "
        f"max {lat['max']} ms, lost {r['lost']}, dup {r['duplicates']}"
    )
    if "cpu" in r:
        c = r["cpu"]
        line += (
            f", server {c['server_ms_per_msg']:.3f} ms/msg ({c['server_util'] * 100:.0f}% CPU), "
            f"+PG {c['server_pg_ms_per_msg']:.3f} ms/msg"
        )
    if r["errors"]:
        line += f", errors {sum(r['errors'].values())}"
    gen = max(r["generator_cpu_fraction"])
    line += f", generator {gen * 100:.0f}% CPU"
    if "machine" in r:
        line += f", other load {r['machine']['other_cores']:.2f} cores"
    if r["sockets_closed"]:
        line += " [THE SERVER CLOSED SOCKETS DURING THE TRIAL]"
    if r["generator_bound"]:
        line += " [GENERATOR-BOUND: add --procs]"
    return line


def write_json(report: dict[str, Any], path: str) -> None:
    """The whole run's report to ``path`` (``-``: stdout)."""
    data = orjson.dumps(report, option=orjson.OPT_INDENT_2)
    if path == "-":
        sys.stdout.write(data.decode() + "\n")
    else:
        Path(path).write_bytes(data)
