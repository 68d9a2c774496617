"""bench/compare: chatr_server vs a Node socket.io baseline vs a python-socketio baseline."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson

from loadtest import seed, storm

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
DOC = ROOT / "docs" / "benchmarks.md"
PORTS = {"chatr": 3301, "node": 3302, "pysio": 3303, "node-full": 3304, "floor": 3305}
NAMES = {
    "chatr": "chatr_server",
    "node": "Node socket.io 4 + pg",
    "pysio": "python-socketio + asyncpg",
    "node-full": "Node, full (conversation + connect sequence)",
    "floor": "chatr_server's transport, no chat logic",
}
WORKLOADS = ("accepted", "first", "storm")
TITLES = {
    "accepted": "(a) accepted pairs",
    "first": "(b) first contacts",
    "storm": "(c) reconnect storm",
}
# Servers run when --servers is not given. The python-socketio baseline does
# only the accepted-pair workload (n/a for the others).
DEFAULT_SERVERS = {
    "accepted": ["chatr", "node", "pysio"],
    "first": ["chatr", "node", "node-full"],
    "storm": ["chatr", "node", "node-full"],
}
SUPPORTED = {
    "accepted": {"chatr", "node", "node-full", "pysio", "floor"},
    "first": {"chatr", "node", "node-full"},
    "storm": {"chatr", "node", "node-full"},
}
# Usernames per workload (seed run id prefix): separate users, so first
# contacts never touch the ring conversations of the other workloads.
SEED_PREFIX = {"accepted": "s", "first": "f", "storm": "k"}


def markers(workload: str) -> tuple[str, str]:
    """The begin/end comments around a workload's block in docs/benchmarks.md."""
    return (f"<!-- bench/compare:{workload}:begin -->", f"<!-- bench/compare:{workload}:end -->")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench/compare", description=__doc__)
    p.add_argument(
        "--pg",
        default=os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="maintenance DSN of the PostgreSQL server (a database is created on it)",
    )
    p.add_argument(
        "--scales",
        default="200:400,2000:800",
        help="comma-separated SOCKETS:RATE pairs (fixed offered msg/s per scale)",
    )
    p.add_argument(
        "--servers",
        help="comma-separated, of chatr,node,node-full,pysio,floor (default per workload: "
        "accepted chatr,node,pysio; first and storm chatr,node,node-full)",
    )
    p.add_argument(
        "--workloads",
        default="accepted,first,storm",
        help="comma-separated: accepted (ring pairs with accepted conversations), first "
        "(first contacts: random recipients among all users), storm (reconnect storm)",
    )
    p.add_argument("--contacts", type=int, default=50, help="storm: contacts per user (even)")
    p.add_argument("--storm-reps", type=int, default=2, help="storm: storms per server run")
    p.add_argument("--reps", type=int, default=2, help="repetitions (order alternates)")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--procs", default="auto", help="loadtest --procs")
    p.add_argument(
        "--ramp",
        action="store_true",
        help="also search each server's highest rate with p99 < 100 ms, no loss",
    )
    p.add_argument("--ramp-duration", type=float, default=5.0)
    p.add_argument("--ramp-scales", help="comma-separated socket counts to ramp (default all)")
    p.add_argument("--no-write", action="store_true", help="do not rewrite docs/benchmarks.md")
    p.add_argument("--keep-db", action="store_true")
    return p


def _with_db(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


def _pysio_python() -> str:
    own = BENCH / ".venv-pysio" / "bin" / "python"
    return str(own) if own.exists() else sys.executable


def _server_cmd(kind: str, port: int) -> list[str]:
    if kind == "chatr":
        return [
            sys.executable,
            "-m",
            "chatr_server",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    if kind in ("node", "node-full"):
        return ["node", str(BENCH / "node-baseline" / "server.js")]
    if kind == "pysio":
        return [_pysio_python(), str(BENCH / "pysocketio-baseline" / "server.py")]
    if kind == "floor":
        return [sys.executable, str(BENCH / "floor-baseline" / "server.py")]
    raise ValueError(kind)


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server did not become healthy")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _ensure_node_modules() -> None:
    if (BENCH / "node-baseline" / "node_modules" / "socket.io").exists():
        return
    print("installing bench/node-baseline dependencies (npm ci)", flush=True)
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],
        cwd=BENCH / "node-baseline",
        check=True,
        timeout=600,
    )


async def _setup_db(admin_dsn: str, name: str) -> str:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    finally:
        await admin.close()
    return _with_db(admin_dsn, name)


async def _drop_db(admin_dsn: str, name: str) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _sql(dsn: str, *statements: str) -> list[Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return [await conn.fetchval(s) for s in statements]
    finally:
        await conn.close()


class ServerDied(RuntimeError):
    pass


def run_with_retry(*args: Any) -> dict[str, Any]:
    """One retry when the server was stopped from outside (shared machine)."""
    try:
        result = run_one(*args)
        if not _aborted(result):
            return result
        print("   run invalid (the server closed every socket); retrying once", flush=True)
    except ServerDied as exc:
        print(f"   {exc}; retrying once", flush=True)
    return run_one(*args)


def _aborted(result: dict[str, Any]) -> bool:
    return any(any("closed" in e for e in t.get("errors", {})) for t in result.get("trials", []))


def run_one(
    kind: str,
    workload: str,
    sockets: int,
    rate: float,
    users_file: Path,
    dsn: str,
    secret: str,
    args: argparse.Namespace,
    out: Path,
    ramp: bool,
) -> dict[str, Any]:
    port = PORTS[kind]
    reset = ["TRUNCATE messages CASCADE"]
    if workload == "first":
        # Every server starts from users without conversations.
        reset.append(
            "DELETE FROM conversations WHERE participant_a IN "
            "(SELECT id FROM users WHERE username LIKE '@lt\\_f%')"
        )
    asyncio.run(_sql(dsn, *reset, "CHECKPOINT"))
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "JWT_SECRET": secret,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "CHATR_DATA_DIR": str(tmp / "var"),
        "UPLOADS_DIR": str(tmp / "uploads"),
        "LOG_LEVEL": "WARNING",
        "DATABASE_POOL_SIZE": "20",
    }
    for var in ("REDIS_URL", "CHATR_TEST_MODE", "NODE_ENV", "BASELINE_FULL"):
        env.pop(var, None)
    if kind == "node-full":
        env["BASELINE_FULL"] = "1"
    log = (out / f"{kind}-{sockets}-{int(time.time())}.log").open("wb")
    proc = subprocess.Popen(
        _server_cmd(kind, port), env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        _wait_healthy(port, proc)
        mode = "ramp" if ramp else "fixed"
        result_path = out / f"{workload}-{kind}-{sockets}-{mode}-{time.time():.0f}.json"
        cmd = [
            sys.executable,
            str(ROOT / "scripts" / "loadtest"),
            "--url",
            f"http://127.0.0.1:{port}",
            "--users-file",
            str(users_file),
            "--sockets",
            str(sockets),
            "--rate",
            str(rate),
            "--duration",
            str(args.ramp_duration if ramp else args.duration),
            "--warmup",
            str(args.warmup),
            "--procs",
            str(args.procs),
            "--server-pid",
            str(proc.pid),
            "--pg-database",
            urlsplit(dsn).path.lstrip("/"),
            "--label",
            kind,
            "--json",
            str(result_path),
        ]
        cmd += ["--workload", workload]
        if workload == "storm":
            cmd += ["--contacts", str(args.contacts), "--storm-reps", str(args.storm_reps)]
        if ramp:
            cmd.append("--ramp")
        budget = 600 if ramp else 300
        subprocess.run(cmd, check=True, timeout=budget, env={**os.environ, "DATABASE_URL": dsn})
        if proc.poll() is not None:
            # Something outside this run stopped the server (it never exits on its own).
            raise ServerDied(f"{kind} exited with {proc.returncode} during the load test")
        return orjson.loads(result_path.read_bytes())
    finally:
        _stop(proc)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


# ---- report --------------------------------------------------------------------


def _median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    trials = [r["trials"][-1] for r in runs]
    cpu = [t.get("cpu", {}) for t in trials]
    return {
        "reps": len(runs),
        "offered": trials[0]["offered_rate"],
        "delivered_per_s": _median([t["delivered_per_s"] for t in trials]),
        "p50": _median([t["latency_ms"]["p50"] for t in trials]),
        "p99": _median([t["latency_ms"]["p99"] for t in trials]),
        "max": max((t["latency_ms"]["max"] or 0) for t in trials),
        "lost": sum(t["lost"] for t in trials),
        "dup": sum(t["duplicates"] for t in trials),
        "errors": sum(sum(t["errors"].values()) for t in trials),
        "server_ms": _median([c.get("server_ms_per_msg") for c in cpu]),
        "server_pg_ms": _median([c.get("server_pg_ms_per_msg") for c in cpu]),
        "server_util": _median([c.get("server_util") for c in cpu]),
        "pg_exited": sum(c.get("exited_pg_backends", 0) for c in cpu),
        "other_cores": _median([t.get("machine", {}).get("other_cores") for t in trials]),
        "rss_kb": _median([r.get("memory", {}).get("rss_per_socket_kb") for r in runs]),
        "connect_s": _median([r["connect"]["wall_s"] for r in runs]),
        "connect_failed": sum(r["connect"]["failed"] for r in runs),
        "generator_bound": any(r.get("generator_bound") for r in runs),
        "procs": runs[0]["procs"],
    }


def _f(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v:,.{digits}f}"


def _ratio(v: float | None, ref: float | None) -> str:
    if v is None or ref is None or ref == 0:
        return "–"
    return f"{v / ref:.2f}×"


def summarize_storm(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over every storm of every run of one server (violations summed)."""
    reps = [rep for r in runs for rep in r["storm"]["reps"]]
    cpu = [rep.get("cpu", {}) for rep in reps]
    return {
        "runs": len(runs),
        "storms": len(reps),
        "contacts": runs[0]["storm"]["contacts"],
        "wall_s": _median([rep["wall_s"] for rep in reps]),
        "connects_per_s": _median([rep["connects_per_s"] for rep in reps]),
        "p50": _median([rep["handshake_ms"]["p50"] for rep in reps]),
        "p99": _median([rep["handshake_ms"]["p99"] for rep in reps]),
        "server_ms": _median([c.get("server_ms_per_connect") for c in cpu]),
        "server_pg_ms": _median([c.get("server_pg_ms_per_connect") for c in cpu]),
        "pg_exited": sum(c.get("exited_pg_backends", 0) for c in cpu),
        "user_status": _median([rep["events"]["user_status_online"] for rep in reps]),
        "presence_update": _median([rep["events"]["presence_update"] for rep in reps]),
        "failed": sum(rep["failed"] for rep in reps),
        "violations": storm.check_failures(reps),
        "other_cores": _median([rep.get("machine", {}).get("other_cores") for rep in reps]),
        "listen_overflows": _median([rep.get("listen_overflows") for rep in reps]),
        "generator_bound": any(rep["generator_bound"] for rep in reps),
        "procs": runs[0]["procs"],
    }


def _head(workload: str, meta: dict[str, Any]) -> list[str]:
    if workload == "storm":
        what = (
            f"{meta['storm_reps']} storm(s) per server run × {meta['reps']} run(s) per cell "
            f"(medians over all storms; check failures summed) · {meta['contacts']} contacts "
            "per user"
        )
    else:
        what = (
            f"{meta['reps']} repetition(s) per cell (medians; loss summed) · "
            f"{meta['duration']:g} s measured after {meta['warmup']:g} s warm-up"
        )
    return [
        f"Run {meta['date']} on {meta['host']} · {what} · `synchronous_commit = off` on the "
        "benchmark database for every server · load generator on the same machine "
        f"(`scripts/loadtest --workload {workload} --procs {meta['procs']}`).",
        "",
    ]


def _foot(meta: dict[str, Any], notes: str) -> list[str]:
    return [
        "",
        notes,
        "",
        f"Environment: {meta['env']}. Load average before the run: {meta['loadavg']}.",
        "",
        f"Reproduce: `bench/compare {meta['argv']}` (raw JSON: `{meta['results_dir']}`).",
    ]


def _skipped(workload: str, meta: dict[str, Any]) -> list[str]:
    """Servers asked for that do not run this workload."""
    return [k for k in meta["asked"] if k not in SUPPORTED[workload]]


def render_messages(
    workload: str,
    results: dict[tuple[int, str], dict[str, Any]],
    ramps: dict[tuple[int, str], Any],
    meta: dict[str, Any],
) -> str:
    """The table of a message workload (accepted pairs or first contacts)."""
    servers = meta["servers"][workload]
    lines = [
        *_head(workload, meta),
        "| sockets | server | offered msg/s | delivered msg/s | p50 ms | p99 ms | lost | "
        "server CPU ms/msg | server+PG CPU ms/msg | server CPU % | RSS KB/socket | connect s "
        "| CPU/msg vs Node | +PG vs Node | RSS vs Node | other load (cores) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    na = _skipped(workload, meta)
    for sockets in meta["scales"]:
        ref = results.get((sockets, "node"))
        for kind in servers:
            s = results.get((sockets, kind))
            if s is None:
                continue
            flag = " ⚠" if s["generator_bound"] else ""
            dagger = " †" if s["pg_exited"] else ""
            lost = f"{s['lost']}" + (f" (+{s['dup']} dup)" if s["dup"] else "")
            if s["errors"]:
                lost += f", {s['errors']} err"
            lines.append(
                f"| {sockets:,} | {NAMES[kind]}{flag} | {s['offered']:,.0f} | "
                f"{_f(s['delivered_per_s'], 0)} | {_f(s['p50'])} | {_f(s['p99'])} | {lost} | "
                f"{_f(s['server_ms'], 3)} | {_f(s['server_pg_ms'], 3)}{dagger} | "
                f"{_f(s['server_util'] * 100 if s['server_util'] is not None else None, 0)} | "
                f"{_f(s['rss_kb'], 1)} | {_f(s['connect_s'])} | "
                f"{_ratio(s['server_ms'], ref and ref['server_ms'])} | "
                f"{_ratio(s['server_pg_ms'], ref and ref['server_pg_ms'])} | "
                f"{_ratio(s['rss_kb'], ref and ref['rss_kb'])} | {_f(s['other_cores'])} |"
            )
        for kind in na:
            lines.append(f"| {sockets:,} | {NAMES[kind]} | n/a |" + " |" * 13)
    if ramps:
        lines += [
            "",
            "Highest offered rate meeting p99 < 100 ms with no loss (`--ramp`, "
            f"{meta['ramp_duration']:g} s trials, geometric steps then bisection):",
            "",
            "| sockets | server | best msg/s | p99 ms there | server CPU ms/msg there | "
            "server+PG CPU ms/msg there | first failing msg/s | rate vs Node | "
            "CPU/msg vs Node | +PG vs Node |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for (sockets, kind), r in sorted(ramps.items()):
            best = r.get("best") or {}
            cpu = best.get("cpu", {})
            node = ramps.get((sockets, "node")) or {}
            node_cpu = (node.get("best") or {}).get("cpu", {})
            rate_ratio = (
                f"{r['best_rate'] / node['best_rate']:.2f}×"
                if r.get("best_rate") and node.get("best_rate")
                else "–"
            )
            lines.append(
                f"| {sockets:,} | {NAMES[kind]} | {_f(r.get('best_rate'), 0)} | "
                f"{_f(best.get('latency_ms', {}).get('p99'))} | "
                f"{_f(cpu.get('server_ms_per_msg'), 3)} | "
                f"{_f(cpu.get('server_pg_ms_per_msg'), 3)} | "
                f"{_f(r.get('first_failure_rate'), 0)} | {rate_ratio} | "
                f"{_ratio(cpu.get('server_ms_per_msg'), node_cpu.get('server_ms_per_msg'))} | "
                f"{_ratio(cpu.get('server_pg_ms_per_msg'), node_cpu.get('server_pg_ms_per_msg'))} |"
            )
    notes = (
        "⚠ = the load generator reported itself CPU-bound in that cell. Other load = "
        "machine-wide busy CPU during the window minus the server, its database backends "
        "and the load generator (other tenants of this machine and of its PostgreSQL). "
        "† = a database backend exited during the window, so PG CPU is undercounted."
    )
    if na:
        notes += " n/a = that server does not implement this workload."
    return "\n".join(lines + _foot(meta, notes)) + "\n"


def render_storm(results: dict[tuple[int, str], dict[str, Any]], meta: dict[str, Any]) -> str:
    """The reconnect-storm table."""
    lines = [
        *_head("storm", meta),
        "| sockets | server | connect wall s | connects/s | handshake p50 ms | "
        "handshake p99 ms | server CPU ms/connect | server+PG CPU ms/connect | "
        "user:status online | presence:update | check failures | wall vs Node | "
        "CPU vs Node | +PG vs Node | listen overflows | other load (cores) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    na = _skipped("storm", meta)
    for sockets in meta["scales"]:
        ref = results.get((sockets, "node"))
        for kind in meta["servers"]["storm"]:
            s = results.get((sockets, kind))
            if s is None:
                continue
            flag = " ⚠" if s["generator_bound"] else ""
            dagger = " †" if s["pg_exited"] else ""
            check = "n/a" if s["violations"] is None else f"{s['violations']}"
            if s["failed"]:
                check += f" ({s['failed']} not connected)"
            lines.append(
                f"| {sockets:,} | {NAMES[kind]}{flag} | {_f(s['wall_s'])} | "
                f"{_f(s['connects_per_s'], 0)} | {_f(s['p50'])} | {_f(s['p99'])} | "
                f"{_f(s['server_ms'], 3)} | {_f(s['server_pg_ms'], 3)}{dagger} | "
                f"{_f(s['user_status'], 0)} | {_f(s['presence_update'], 0)} | {check} | "
                f"{_ratio(s['wall_s'], ref and ref['wall_s'])} | "
                f"{_ratio(s['server_ms'], ref and ref['server_ms'])} | "
                f"{_ratio(s['server_pg_ms'], ref and ref['server_pg_ms'])} | "
                f"{_f(s['listen_overflows'], 0)} | {_f(s['other_cores'])} |"
            )
        for kind in na:
            lines.append(f"| {sockets:,} | {NAMES[kind]} | n/a |" + " |" * 13)
    notes = (
        "Connect wall = first connect started → last `socket:ready`; handshake = one socket's"
        " connect start → its `socket:ready`; CPU per connect over the storm (connects and "
        "the presence events they cause). Check failures = sockets without `socket:ready` or "
        "without exactly one `presence:update`, plus contact pairs (u, v) of connected users "
        "where u never learned that v is online (neither in u's `presence:update` snapshot "
        "nor by `user:status`); n/a = the server sends no presence at all (the minimal "
        "baseline). Listen overflows = connection attempts the kernel dropped on a full "
        "accept queue during the storm (`TcpExt ListenOverflows`, machine-wide; the client "
        "retries such a SYN after 1 s, then 3 s, 7 s: the wall time then moves in those "
        "steps). Other load = machine-wide busy CPU during the storm minus the server, its "
        "database backends and the load generator. ⚠ = a load generator process was CPU-bound"
        " (> 85 % of a core). † = a database backend exited during the window."
    )
    if na:
        notes += " n/a rows: that server does not implement this workload."
    return "\n".join(lines + _foot(meta, notes)) + "\n"


DOC_TEMPLATE = """# Benchmarks
"""


def write_doc(workload: str, block: str, doc: Path = DOC) -> None:
    """Replace the block between the workload's markers (appended when missing)."""
    begin, end = markers(workload)
    text = doc.read_text() if doc.exists() else DOC_TEMPLATE
    if begin not in text or end not in text:
        text = text.rstrip("\n") + f"\n\n### {TITLES[workload]}\n\n{begin}\n{end}\n"
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(head + begin + "\n" + block + end + tail)


def _env_line() -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return (
        f"{os.cpu_count()} × {cpu}, Python {platform.python_version()}, Node {node}, "
        f"PostgreSQL {{pg}}"
    )


def _seed(dsn: str, secret: str, workload: str, sockets: int, contacts: int, out: Path) -> Path:
    """Users for one workload and scale (their own usernames); the users file."""
    partners = {"accepted": 2, "first": 0, "storm": contacts}[workload]
    pairs = seed.ring_pairs(sockets, partners) if partners else []
    users = asyncio.run(
        seed.seed_sql(dsn, secret, sockets, f"{SEED_PREFIX[workload]}{sockets}", pairs)
    )
    users_file = out / f"users-{workload}-{sockets}.json"
    users_file.write_bytes(
        orjson.dumps(
            {"users": [u.as_json() for u in users], "accepted": True, "partners": partners}
        )
    )
    return users_file


def _servers(args: argparse.Namespace, workload: str) -> list[str]:
    if args.servers is None:
        return DEFAULT_SERVERS[workload]
    asked = [s.strip() for s in args.servers.split(",") if s.strip()]
    return [k for k in asked if k in SUPPORTED[workload]]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    scales = []
    for part in args.scales.split(","):
        s, _, r = part.partition(":")
        scales.append((int(s), float(r or 200)))
    if len({s for s, _ in scales}) != len(scales):
        raise SystemExit("--scales: each socket count once (results are kept per socket count)")
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    for w in workloads:
        if w not in WORKLOADS:
            raise SystemExit(f"unknown workload {w!r} ({', '.join(WORKLOADS)})")
    asked = (
        [s.strip() for s in args.servers.split(",") if s.strip()]
        if args.servers
        else ["chatr", "node", "node-full", "pysio"]
    )
    for s in asked:
        if s not in PORTS:
            raise SystemExit(f"unknown server {s!r} ({', '.join(PORTS)})")
    if args.contacts < 2 or args.contacts % 2:
        raise SystemExit("--contacts: an even number >= 2 (ring neighbours)")
    servers = {w: _servers(args, w) for w in workloads}
    if any(k.startswith("node") for w in workloads for k in servers[w]):
        _ensure_node_modules()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = BENCH / "results" / stamp
    out.mkdir(parents=True, exist_ok=True)
    loadavg = Path("/proc/loadavg").read_text().split()[:3]
    name = f"chatr_bench_{secrets.token_hex(4)}"
    dsn = asyncio.run(_setup_db(args.pg, name))
    secret = secrets.token_urlsafe(48)
    print(f"database {name} (synchronous_commit = off); results in {out}", flush=True)
    t_start = time.monotonic()
    runs: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    ramps: dict[tuple[str, int, str], Any] = {}
    try:
        subprocess.run(
            [sys.executable, "-m", "chatr_server", "migrate"],
            cwd=ROOT,
            check=True,
            env={**os.environ, "DATABASE_URL": dsn, "LOG_LEVEL": "WARNING"},
            timeout=120,
        )
        pg_version = asyncio.run(_sql(dsn, "SHOW server_version"))[0]
        for sockets, rate in scales:
            for workload in workloads:
                users_file = _seed(dsn, secret, workload, sockets, args.contacts, out)
                for rep in range(args.reps):
                    order = servers[workload]
                    order = order if rep % 2 == 0 else list(reversed(order))
                    for kind in order:
                        what = "storm" if workload == "storm" else f"{rate:g} msg/s"
                        print(
                            f"== {TITLES[workload]}, {NAMES[kind]}: {sockets} sockets, {what}, "
                            f"rep {rep + 1}/{args.reps}",
                            flush=True,
                        )
                        r = run_with_retry(
                            kind, workload, sockets, rate, users_file, dsn, secret, args, out, False
                        )
                        runs.setdefault((workload, sockets, kind), []).append(r)
                ramp_here = (
                    args.ramp
                    and workload != "storm"
                    and (not args.ramp_scales or str(sockets) in args.ramp_scales.split(","))
                )
                if ramp_here:
                    for kind in servers[workload]:
                        print(f"== ramp {TITLES[workload]}, {NAMES[kind]}: {sockets}", flush=True)
                        r = run_with_retry(
                            kind,
                            workload,
                            sockets,
                            rate / 2,
                            users_file,
                            dsn,
                            secret,
                            args,
                            out,
                            True,
                        )
                        ramps[(workload, sockets, kind)] = r.get("ramp", {})
    finally:
        if not args.keep_db:
            asyncio.run(_drop_db(args.pg, name))
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "host": platform.node() or "this machine",
        "reps": args.reps,
        "duration": args.duration,
        "warmup": args.warmup,
        "procs": args.procs,
        "ramp_duration": args.ramp_duration,
        "contacts": args.contacts,
        "storm_reps": args.storm_reps,
        "scales": [s for s, _ in scales],
        "servers": servers,
        "asked": asked,
        "env": _env_line().format(pg=pg_version),
        "loadavg": " ".join(loadavg),
        "argv": " ".join(sys.argv[1:] if argv is None else argv),
        "results_dir": str(out.relative_to(ROOT)),
    }
    summary: dict[str, Any] = {"meta": meta}
    for workload in workloads:
        mine = {(k[1], k[2]): v for k, v in runs.items() if k[0] == workload}
        if workload == "storm":
            results = {key: summarize_storm(v) for key, v in mine.items()}
            block = render_storm(results, meta)
            wramps: dict[tuple[int, str], Any] = {}
        else:
            results = {key: summarize(v) for key, v in mine.items()}
            wramps = {(k[1], k[2]): v for k, v in ramps.items() if k[0] == workload}
            block = render_messages(workload, results, wramps, meta)
        summary[workload] = {
            "results": {f"{k[0]}:{k[1]}": v for k, v in results.items()},
            "ramps": {f"{k[0]}:{k[1]}": v for k, v in wramps.items()},
        }
        (out / f"table-{workload}.md").write_text(block)
        print(f"\n## {TITLES[workload]}\n\n{block}")
        if not args.no_write:
            write_doc(workload, block)
            print(f"wrote {DOC.relative_to(ROOT)} ({workload})")
    (out / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    print(f"total {time.monotonic() - t_start:.0f}s")
    return 0
