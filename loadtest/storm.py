"""Reconnect storm: every socket connects at once, measured and checked.

One repetition: sample the server's and PostgreSQL's CPU, let every worker
open all of its sockets at once, wait until the connect sequence's events
have settled (every contact pair told, or the counts stop moving within
--grace), sample again. Figures: wall time from the first connect started to
the last ``socket:ready`` (workers stamp both on the system-wide monotonic
clock), connects/s, handshake latency per socket (connect start →
``socket:ready``), CPU per connect and the events delivered. The check: every
socket got one ``socket:ready`` and one ``presence:update``, and for every
contact pair (u, v) of connected users u learned that v is online — v in u's
snapshot or a ``user:status {userId: v, status: "online"}`` to u. A server that sends no
``presence:update`` at all (the minimal baseline) has no check (``n/a``).

Between repetitions every socket is closed (close handshake done) and the
run waits until the server and its database backends are idle, so the
disconnects' work (offline status, last-seen writes) is not counted in the
next storm.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from loadtest import procstat
from loadtest.report import connect_times, quantiles_ms

if TYPE_CHECKING:
    from loadtest.runner import Context

POLL_S = 0.1
IDLE_WINDOW_S = 0.25
IDLE_CPU_S = 0.01  # server + PG CPU per idle window that still counts as idle
IDLE_LIMIT_S = 30.0


def wait_idle(ctx: Context) -> float:
    """Wait (bounded) until server + PostgreSQL CPU is quiet twice in a row; seconds waited."""
    t0 = time.monotonic()
    if ctx.server_pid is None or ctx.args.no_cpu:
        time.sleep(2.0)  # nothing to watch: a fixed pause for the disconnects
        return time.monotonic() - t0
    quiet = 0
    prev = procstat.sample(ctx.server_pid, ctx.pg_database)
    while quiet < 2 and time.monotonic() - t0 < IDLE_LIMIT_S:
        time.sleep(IDLE_WINDOW_S)
        cur = procstat.sample(ctx.server_pid, ctx.pg_database)
        busy = (
            procstat.cpu_delta(prev.server_pids, cur.server_pids)[0]
            + procstat.cpu_delta(prev.pg_pids, cur.pg_pids)[0]
        )
        quiet = quiet + 1 if busy < IDLE_CPU_S else 0
        prev = cur
    return time.monotonic() - t0


def disconnect_all(ctx: Context) -> dict[str, Any]:
    """Close every socket, wait until the server is idle; the disconnects' cost.

    ``settle_s`` is from the close call to the start of the idle windows (the last
    ``2 × IDLE_WINDOW_S`` of the wait are the idle check itself); CPU covers the whole
    wait, idle windows included (at most ``2 × IDLE_CPU_S``).
    """
    cpu_on = ctx.server_pid is not None and not ctx.args.no_cpu
    before = procstat.sample(ctx.server_pid, ctx.pg_database) if cpu_on else None
    parts = ctx.pool.call("disconnect", {})
    closed = sum(p.get("closed", 0) for p in parts)
    waited = wait_idle(ctx)
    out: dict[str, Any] = {
        "closed": closed,
        "settle_s": round(max(0.0, waited - 2 * IDLE_WINDOW_S), 3) if cpu_on else None,
    }
    if before is not None:
        after = procstat.sample(ctx.server_pid, ctx.pg_database)
        srv = procstat.cpu_delta(before.server_pids, after.server_pids)[0]
        pg = procstat.cpu_delta(before.pg_pids, after.pg_pids)[0]
        per = max(closed, 1)
        out["server_ms_per_disconnect"] = round(srv * 1000.0 / per, 4)
        out["server_pg_ms_per_disconnect"] = round((srv + pg) * 1000.0 / per, 4)
    ctx.log(
        f"disconnected {closed} sockets; server idle after {out['settle_s']} s"
        + (
            f", server {out['server_ms_per_disconnect']:.3f} ms/disconnect, "
            f"+PG {out['server_pg_ms_per_disconnect']:.3f} ms/disconnect"
            if "server_ms_per_disconnect" in out
            else ""
        )
    )
    return out


def _check(ctx: Context, online: bytes) -> dict[str, Any]:
    """The workers' storm_check replies summed (contacts in ``online`` only)."""
    parts = ctx.pool.call("storm_check", {"online": online})
    out: dict[str, Any] = {
        k: sum(p[k] for p in parts)
        for k in (
            "sockets",
            "ready_missing",
            "ready_repeated",
            "presence_not_one",
            "presence_update",
            "user_status_online",
            "pairs",
            "violations",
        )
    }
    out["sample"] = [pair for p in parts for pair in p["sample"]][:10]
    return out


def settle(ctx: Context, online: bytes) -> tuple[dict[str, Any], float]:
    """Poll the check until it passes and the event counts stop moving (or --grace)."""
    t0 = time.monotonic()
    prev: dict[str, Any] | None = None
    while True:
        cur = _check(ctx, online)
        stable = prev is not None and all(
            cur[k] == prev[k] for k in ("presence_update", "user_status_online", "violations")
        )
        applicable = cur["presence_update"] > 0
        if stable and (not applicable or cur["violations"] == 0):
            break
        if time.monotonic() - t0 > ctx.args.grace:
            break
        prev = cur
        time.sleep(POLL_S)
    return cur, time.monotonic() - t0


def one(ctx: Context, rep: int) -> dict[str, Any]:
    """One storm: connect every socket at once, settle, check, account."""
    args = ctx.args
    cpu_on = ctx.server_pid is not None and not args.no_cpu
    before = procstat.sample(ctx.server_pid, ctx.pg_database) if cpu_on else None
    overflows = procstat.listen_overflows()
    t_call = time.monotonic()
    parts = ctx.pool.call(
        "connect",
        {"concurrency": args.connect_concurrency, "timeout": args.connect_timeout},
    )
    # A contact whose socket never connected cannot be announced: the check
    # covers the pairs of connected users (the failed connects are reported).
    online = bytearray(ctx.plan.users)
    for part in parts:
        for u in part["users"]:
            online[u] = 1
    check, settle_s = settle(ctx, bytes(online))
    t_end = time.monotonic()
    after = procstat.sample(ctx.server_pid, ctx.pg_database) if cpu_on else None
    overflows_after = procstat.listen_overflows()
    times, errors = connect_times(parts)
    connected = len(times)
    starts = [p["first_start"] for p in parts if p["first_start"] is not None]
    readies = [p["last_ready"] for p in parts if p["last_ready"] is not None]
    wall = max(readies) - min(starts) if starts and readies else None
    applicable = check["presence_update"] > 0
    result: dict[str, Any] = {
        "rep": rep,
        "sockets": ctx.plan.sockets,
        "connected": connected,
        "failed": ctx.plan.sockets - connected,
        "wall_s": None if wall is None else round(wall, 3),
        "connects_per_s": round(connected / wall, 1) if wall else None,
        "handshake_ms": quantiles_ms(times),
        "events": {
            "socket_ready": connected - check["ready_missing"],
            "presence_update": check["presence_update"],
            "user_status_online": check["user_status_online"],
        },
        "check": {
            "applicable": applicable,
            "ready_missing": check["ready_missing"],
            "ready_repeated": check["ready_repeated"],
            "presence_not_one": check["presence_not_one"] if applicable else None,
            "contact_pairs": check["pairs"],
            "violations": check["violations"] if applicable else None,
            "violation_sample": check["sample"] if applicable else [],
        },
        # Machine-wide (other tenants too): SYNs dropped on a full accept queue.
        "listen_overflows": (
            overflows_after - overflows
            if overflows is not None and overflows_after is not None
            else None
        ),
        "settle_s": round(settle_s, 3),
        "window_s": round(t_end - t_call, 3),
        "generator_cpu_fraction": [round(p["cpu_s"] / max(p["elapsed"], 1e-9), 2) for p in parts],
        "errors": dict(errors),
    }
    result["generator_bound"] = max(result["generator_cpu_fraction"]) > 0.85
    if before is not None and after is not None:
        srv, srv_gone = procstat.cpu_delta(before.server_pids, after.server_pids)
        pg, pg_gone = procstat.cpu_delta(before.pg_pids, after.pg_pids)
        per = max(connected, 1)
        result["cpu"] = {
            "server_s": round(srv, 3),
            "postgres_s": round(pg, 3),
            "server_ms_per_connect": round(srv * 1000.0 / per, 4),
            "pg_ms_per_connect": round(pg * 1000.0 / per, 4),
            "server_pg_ms_per_connect": round((srv + pg) * 1000.0 / per, 4),
            "exited_server_processes": srv_gone,
            "exited_pg_backends": pg_gone,
        }
        window = max(t_end - t_call, 1e-9)
        gen = sum(p["cpu_s"] for p in parts)
        busy = after.machine_busy_s - before.machine_busy_s
        result["machine"] = {
            "busy_cores": round(busy / window, 2),
            # Everything else on the machine: other tenants, other databases.
            "other_cores": round(max(0.0, busy - srv - pg - gen) / window, 2),
            "generator_cores": round(gen / window, 2),
        }
    return result


def describe(r: dict[str, Any]) -> str:
    """One line for a storm repetition."""
    h, c, ev = r["handshake_ms"], r["check"], r["events"]
    line = (
        f"storm {r['rep']}: {r['connected']}/{r['sockets']} connected in {r['wall_s']} s "
        f"({r['connects_per_s']}/s), handshake p50 {h['p50']} p99 {h['p99']} ms, "
        f"presence:update {ev['presence_update']}, user:status online "
        f"{ev['user_status_online']}"
    )
    if "cpu" in r:
        cpu = r["cpu"]
        line += (
            f", server {cpu['server_ms_per_connect']:.3f} ms/connect, "
            f"+PG {cpu['server_pg_ms_per_connect']:.3f} ms/connect"
        )
    if c["applicable"]:
        line += (
            f", check: {c['violations']} contact pairs not told, {c['ready_missing']} without "
            f"socket:ready, {c['presence_not_one']} without exactly one presence:update"
        )
    else:
        line += ", check n/a (no presence:update)"
    if r["errors"]:
        line += f", errors {dict(r['errors'])}"
    if "machine" in r:
        line += f", other load {r['machine']['other_cores']:.2f} cores"
    if r["listen_overflows"]:
        line += (
            f", listen-queue overflows {r['listen_overflows']} "
            "(SYNs dropped, retried after 1 s or more)"
        )
    if r["generator_bound"]:
        line += " [GENERATOR-BOUND: add --procs]"
    return line


def run(ctx: Context) -> dict[str, Any]:
    """--storm-reps storms, idle waits in between; the report's ``storm`` block."""
    reps: list[dict[str, Any]] = []
    for rep in range(1, ctx.args.storm_reps + 1):
        gone = disconnect_all(ctx) if rep > 1 else None
        r = one(ctx, rep)
        if gone is not None:
            r["disconnect"] = gone
        ctx.log(describe(r))
        reps.append(r)
        if r["connected"] == 0:
            break
    return {
        "contacts": ctx.args.partners,
        "connect_concurrency": ctx.args.connect_concurrency,
        "reps": reps,
        "violations": check_failures(reps),
        "generator_bound": any(r["generator_bound"] for r in reps),
    }


def check_failures(reps: Iterable[dict[str, Any]]) -> int | None:
    """Contact pairs not told plus sockets without socket:ready or one presence:update.

    ``None`` when no storm had anything to check (a server without presence).
    """
    applicable = [r["check"] for r in reps if r["check"]["applicable"]]
    if not applicable:
        return None
    return sum(c["violations"] + c["ready_missing"] + c["presence_not_one"] for c in applicable)
