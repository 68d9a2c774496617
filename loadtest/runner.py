"""The coordinator: set up, drive trials, merge and report.

The stages, in the order :func:`main` runs them:

* setup: the plan (users, ring pairs, which process owns which socket), the
  users (seeded or read), the worker processes, their sockets connected and
  the conversations accepted (:func:`setup`, :func:`connect`, :func:`prime`);
* trial: one offered rate for a duration, driven by every worker at once
  (:func:`drive`), a single one or a ramp of them (:func:`ramp`);
* merge: the workers' records of a trial into one account (:mod:`.merge`);
* report: a trial's figures and summary line (:mod:`.report`), then the run's
  JSON and the database check (:func:`_verify`).

The storm workload replaces connect and trials by :func:`loadtest.storm.run`.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import math
import multiprocessing as mp
import os
import secrets
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from loadtest import procstat, seed, storm, verify, worker
from loadtest.merge import merge
from loadtest.report import connect_times, describe, ms, pct, trial_result, write_json

DESCRIPTION = """\
Load-test a chatr deployment. Three workloads (--workload):

  accepted  message:send between pairs of users whose conversation is
            accepted (each user talks to --partners ring neighbours; default)
  first     first contacts: each message:send goes from a random connected
            user to a random user among all users, so nearly every message
            opens a new pair (SQL seeding: users only, no friendships or
            conversations)
  storm     reconnect storm: every socket connects at once (--contacts K ring
            neighbours with accepted friendships and conversations, default
            50); reports connect wall time, connects/s, handshake p50/p99,
            server and PostgreSQL CPU per connect, the user:status (online)
            and presence:update events delivered, and checks that every
            socket got socket:ready and one presence:update and that every
            contact learned the other is online. Repeated --storm-reps times
            (disconnect all, wait until the server and its database are idle,
            connect all again). No messages are sent.

Users come from --users-file, or are seeded through the REST API (the server
must run with CHATR_TEST_MODE=1 and RATE_LIMITS_ENABLED=false), or with
--seed-sql DSN --jwt-secret S straight into the database. Each user talks to
--partners neighbours on a ring. C sockets (one per user by default) connect
with a raw Engine.IO/Socket.IO client (websocket, or --transport polling),
then a fixed offered rate R of message:send runs for T seconds, spread over
--procs worker processes. Latency is measured at the recipient from the send
time embedded in the content. With the server's pid (--server-pid, or found
from the listening port when the server runs on this machine) it also
reports server and PostgreSQL CPU time per delivered message and RSS per
socket. --ramp searches for the highest rate with p99 < --p99-target and no
loss. --verify-db DSN checks after the run that every acknowledged send
(message:sent) is stored in that database's messages table, and exits 1 if
one is missing.

Only loopback URLs are accepted unless --allow-remote is given.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="scripts/loadtest",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--url", default="http://127.0.0.1:3001", help="server base URL")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback URL")
    p.add_argument("--sockets", "-c", type=int, default=100, help="sockets to connect (C)")
    p.add_argument("--users", "-n", type=int, help="users (N, default C; sockets round-robin)")
    p.add_argument(
        "--workload", choices=["accepted", "first", "storm"], default="accepted", help="see above"
    )
    p.add_argument(
        "--partners",
        "--contacts",
        type=int,
        help="ring neighbours per user (even; default 2, storm 50, first 0)",
    )
    p.add_argument("--storm-reps", type=int, default=2, help="storm: connect-all repetitions")
    p.add_argument("--rate", "-r", type=float, default=200.0, help="offered message:send per s")
    p.add_argument("--duration", "-t", type=float, default=10.0, help="seconds of sending")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    p.add_argument("--grace", type=float, default=5.0, help="seconds to wait for stragglers")
    p.add_argument("--transport", choices=["websocket", "polling"], default="websocket")
    p.add_argument("--procs", default="auto", help="worker processes (int or auto)")
    p.add_argument(
        "--connect-concurrency",
        type=int,
        help="connects in flight per process (default 64; storm: all of its sockets)",
    )
    p.add_argument("--connect-timeout", type=float, default=30.0)
    p.add_argument(
        "--ready-event",
        default="socket:ready",
        help="event that marks a socket ready ('' = the Socket.IO CONNECT ack)",
    )
    p.add_argument("--seed-sql", metavar="DSN", help="insert users into this database")
    p.add_argument("--jwt-secret", default=os.environ.get("JWT_SECRET"), help="for --seed-sql")
    p.add_argument("--users-file", help="read users (JSON) from here instead of seeding")
    p.add_argument("--save-users", help="write the seeded users (JSON) here")
    p.add_argument(
        "--no-prime",
        action="store_true",
        help="REST seeding: do not accept the conversations first",
    )
    p.add_argument("--server-pid", type=int, help="server process (default: the listener)")
    p.add_argument("--no-cpu", action="store_true", help="skip /proc CPU/RSS accounting")
    p.add_argument(
        "--pg-database",
        help="count only PostgreSQL backends of this database (default: the database of "
        "--seed-sql or DATABASE_URL; else every postgres process)",
    )
    p.add_argument(
        "--verify-db",
        metavar="DSN",
        help="after the run, check that every acknowledged message is in this database",
    )
    p.add_argument("--ramp", action="store_true", help="search the highest passing rate")
    p.add_argument("--p99-target", type=float, default=100.0, help="ramp: p99 limit in ms")
    p.add_argument("--ramp-factor", type=float, default=1.6, help="ramp: growth per step")
    p.add_argument("--ramp-max-steps", type=int, default=10)
    p.add_argument("--ramp-bisect", type=int, default=3, help="ramp: refinement trials")
    p.add_argument("--label", default="", help="name recorded in the JSON output")
    p.add_argument("--json", metavar="PATH", help="write results as JSON ('-' = stdout)")
    p.add_argument("--quiet", "-q", action="store_true")
    return p


# ---- helpers ---------------------------------------------------------------


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(info[4][0]).is_loopback
                for info in socket.getaddrinfo(host, None)
            )
        except OSError:
            return False


def _auto_procs(rate: float, sockets: int, workload: str = "accepted") -> int:
    # One asyncio process comfortably handles ~2,500 msg/s (send + receive +
    # ack) and a few thousand idle sockets; beyond that, split. A storm opens
    # every socket at once (client handshakes and the presence events cost the
    # generator ~1 ms of CPU per socket): split from 1,000 sockets.
    if workload == "storm":
        want = max(math.ceil(sockets / 1000.0), 1)
    else:
        want = max(math.ceil(rate / 2500.0), math.ceil(sockets / 5000.0), 1)
    return min(want, max(1, (os.cpu_count() or 1)))


def resolve_defaults(args: argparse.Namespace) -> None:
    """Workload-dependent defaults: ring partners and connect concurrency."""
    if args.partners is None:
        args.partners = {"accepted": 2, "first": 0, "storm": 50}[args.workload]
    if args.connect_concurrency is None:
        args.connect_concurrency = args.sockets if args.workload == "storm" else 64


@dataclass
class Pool:
    """The worker processes and their pipes."""

    conns: list[Any]
    procs: list[Any]
    timeout: float = 120.0

    def call(
        self, name: str, args: list[dict[str, Any]] | dict[str, Any], timeout: float | None = None
    ) -> list[dict[str, Any]]:
        per = args if isinstance(args, list) else [args] * len(self.conns)
        for conn, a in zip(self.conns, per, strict=True):
            conn.send((name, a))
        out = []
        deadline = time.monotonic() + (timeout or self.timeout)
        for conn, proc in zip(self.conns, self.procs, strict=True):
            while not conn.poll(0.2):
                if not proc.is_alive():
                    raise RuntimeError(f"worker {proc.name} died")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"worker {proc.name}: no answer to {name}")
            _, reply = conn.recv()
            if "fatal" in reply:
                raise RuntimeError(f"worker {proc.name} failed in {name}: {reply['fatal']}")
            out.append(reply)
        return out

    def shutdown(self) -> None:
        for conn in self.conns:
            try:
                conn.send(("close", {}))
            except OSError:
                pass
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)


@dataclass
class Plan:
    """Who talks to whom, and which worker process owns which socket."""

    sockets: int
    users: int
    n_procs: int
    run_id: str
    pairs: list[tuple[int, int]]
    partners: list[list[int]]
    sockets_of_user: list[int]
    slices: list[list[int]]


@dataclass
class Context:
    args: argparse.Namespace
    plan: Plan
    pool: Pool
    server_pid: int | None
    pg_database: str | None
    log: Any
    trials: list[dict[str, Any]] = field(default_factory=list)
    trial_no: int = 0
    # Over every trial, warm-up included: worker error texts, sends never answered.
    all_errors: Counter[str] = field(default_factory=Counter)
    unanswered: int = 0


# ---- setup -----------------------------------------------------------------------


def make_plan(args: argparse.Namespace) -> Plan | None:
    """The run's layout; ``None`` when the sockets and users given cannot make one."""
    sockets = args.sockets
    n = args.users or sockets
    if n < 2 or sockets < n:
        return None
    if args.procs == "auto":
        n_procs = _auto_procs(args.rate, sockets, args.workload)
    else:
        n_procs = int(args.procs)
    n_procs = max(1, min(n_procs, sockets))
    pairs = seed.ring_pairs(n, args.partners) if args.partners > 0 else []
    partners: list[list[int]] = [[] for _ in range(n)]
    for a, b in pairs:
        partners[a].append(b)
        partners[b].append(a)
    sockets_of_user = [0] * n
    for g in range(sockets):
        sockets_of_user[g % n] += 1
    return Plan(
        sockets=sockets,
        users=n,
        n_procs=n_procs,
        run_id=secrets.token_hex(4),
        pairs=pairs,
        partners=partners,
        sockets_of_user=sockets_of_user,
        slices=[list(range(sockets))[i::n_procs] for i in range(n_procs)],
    )


def _server_pid(args: argparse.Namespace, log: Any) -> int | None:
    """--server-pid, else the local listener of --url (for CPU and RSS figures)."""
    server_pid = args.server_pid
    if server_pid is None and not args.no_cpu and _is_loopback(args.url):
        port = urlsplit(args.url).port or 80
        server_pid = procstat.listener_pid(port)
    if server_pid is None and not args.no_cpu:
        log("server pid not found: no CPU/RSS figures (pass --server-pid)")
    return server_pid


def start_workers(args: argparse.Namespace, plan: Plan, users: list[seed.User]) -> Pool:
    """One spawned process per slice of the sockets, each with the whole plan."""
    user_json = [{"id": u.id, "token": u.token} for u in users]
    ctxmp = mp.get_context("spawn")
    conns, procs = [], []
    for i, sl in enumerate(plan.slices):
        parent, child = ctxmp.Pipe()
        cfg = {
            "proc": i,
            "url": args.url,
            "transport": args.transport,
            "users": user_json,
            "sockets": sl,
            "partners": plan.partners,
            "sockets_of_user": plan.sockets_of_user,
            "ready_event": args.ready_event,
            "workload": args.workload,
            "record_acks": bool(args.verify_db),
        }
        proc = ctxmp.Process(
            target=worker.main, args=(child, cfg), name=f"loadtest-{i}", daemon=True
        )
        proc.start()
        conns.append(parent)
        procs.append(proc)
    return Pool(conns, procs, timeout=args.connect_timeout + 120)


def setup(args: argparse.Namespace, plan: Plan, log: Any) -> tuple[Context, bool]:
    """Users, server pid and workers; (context, conversations already accepted)."""
    users, accepted = _load_users(args, plan.users, plan.run_id, plan.pairs, log)
    server_pid = _server_pid(args, log)
    pool = start_workers(args, plan, users)
    pg_database = args.pg_database
    if pg_database is None:
        dsn = args.seed_sql or os.environ.get("DATABASE_URL") or ""
        pg_database = urlsplit(dsn).path.lstrip("/") or None
    return Context(args, plan, pool, server_pid, pg_database, log), accepted


def _load_users(
    args: argparse.Namespace, n: int, run_id: str, pairs: list[tuple[int, int]], log: Any
) -> tuple[list[seed.User], bool]:
    """(users, conversations already accepted)."""
    if args.users_file:
        data = orjson.loads(Path(args.users_file).read_bytes())
        users = [seed.User(**u) for u in data["users"][:n]]
        if len(users) < n:
            raise SystemExit(f"{args.users_file} has {len(users)} users, {n} needed")
        return users, bool(data.get("accepted", False)) and data.get("partners") == args.partners
    t0 = time.monotonic()
    if args.seed_sql:
        if not args.jwt_secret:
            raise SystemExit("--seed-sql needs --jwt-secret (or JWT_SECRET)")
        users = asyncio.run(seed.seed_sql(args.seed_sql, args.jwt_secret, n, run_id, pairs))
        accepted = True
    else:
        users = asyncio.run(seed.seed_rest(args.url, n, run_id))
        accepted = False
    log(
        f"seeded {len(users)} users ({'SQL' if args.seed_sql else 'REST'}) "
        f"in {time.monotonic() - t0:.1f}s"
    )
    if args.save_users:
        Path(args.save_users).write_bytes(
            orjson.dumps(
                {
                    "users": [u.as_json() for u in users],
                    "accepted": accepted,
                    "partners": args.partners,
                }
            )
        )
    return users, accepted


def connect(ctx: Context) -> dict[str, Any]:
    """Connect every socket; the connect figures (RSS per socket too, with the server pid)."""
    args, log = ctx.args, ctx.log
    idle = procstat.sample(ctx.server_pid) if ctx.server_pid else None
    t0 = time.monotonic()
    conn_parts = ctx.pool.call(
        "connect",
        {"concurrency": args.connect_concurrency, "timeout": args.connect_timeout},
    )
    connect_wall = time.monotonic() - t0
    times, cerr = connect_times(conn_parts)
    connected = len(times)
    figures: dict[str, Any] = {
        "connect": {
            "connected": connected,
            "failed": ctx.plan.sockets - connected,
            "wall_s": round(connect_wall, 3),
            "per_socket_ms": {
                "p50": ms(pct(times, 0.5)),
                "p99": ms(pct(times, 0.99)),
                "max": ms(times[-1] if times else None),
            },
            "errors": dict(cerr),
        }
    }
    log(
        f"connected {connected}/{ctx.plan.sockets} in {connect_wall:.2f}s "
        f"(per socket p50 {ms(pct(times, 0.5))} ms, p99 {ms(pct(times, 0.99))} ms)"
        + (f"; errors: {dict(cerr)}" if cerr else "")
    )
    if connected < 2:
        raise RuntimeError("fewer than 2 sockets connected")
    time.sleep(1.0)
    if idle is not None:
        after = procstat.sample(ctx.server_pid)
        delta = after.server_rss_bytes - idle.server_rss_bytes
        figures["memory"] = {
            "server_rss_idle_mb": round(idle.server_rss_bytes / 2**20, 1),
            "server_rss_connected_mb": round(after.server_rss_bytes / 2**20, 1),
            "rss_per_socket_kb": round(delta / connected / 1024, 1),
        }
        log(
            f"server RSS {idle.server_rss_bytes / 2**20:.0f} MB idle → "
            f"{after.server_rss_bytes / 2**20:.0f} MB connected "
            f"({figures['memory']['rss_per_socket_kb']} KB/socket)"
        )
    return figures


def prime(ctx: Context) -> None:
    """Accept every ring conversation over the sockets (REST-seeded users), both ways."""
    plan = ctx.plan
    t0 = time.monotonic()
    owner: dict[int, int] = {}
    for p, sl in enumerate(plan.slices):
        for g in sl:
            owner.setdefault(g % plan.users, p)
    statuses: Counter[str] = Counter()
    for phase, direction in ((1, 0), (2, 1)):
        per: list[list[tuple[int, int]]] = [[] for _ in range(plan.n_procs)]
        for a, b in plan.pairs:
            frm, to = (a, b) if direction == 0 else (b, a)
            per[owner[frm]].append((frm, to))
        replies = ctx.pool.call(
            "prime",
            [
                {"pairs": per[p], "phase": phase, "run": plan.run_id, "timeout": 30.0}
                for p in range(plan.n_procs)
            ],
        )
        statuses = Counter()
        for r in replies:
            statuses.update(r["statuses"])
    ctx.log(
        f"accepted {len(plan.pairs)} conversations over the sockets in "
        f"{time.monotonic() - t0:.1f}s ({dict(statuses)})"
    )


# ---- trial -----------------------------------------------------------------------


@dataclass
class Driven:
    """What the workers report of one trial before the merge."""

    sends: list[dict[str, Any]]
    parts: list[dict[str, Any]]
    window: tuple[float, float]
    cpu: tuple[procstat.Sample, procstat.Sample] | None


def drive(ctx: Context, trial: int, rate: float, duration: float) -> Driven:
    """Every worker sends its share of ``rate`` for ``duration``; wait for the deliveries."""
    args, pool, k = ctx.args, ctx.pool, ctx.plan.n_procs
    start_at = time.monotonic() + 0.3
    run_args = {
        "trial": trial,
        "rate": rate / k,
        "duration": duration,
        "start_at": start_at,
        "ack_grace": args.grace,
        "seed": trial,
        "run": ctx.plan.run_id,
    }
    for conn in pool.conns:
        conn.send(("run", run_args))
    time.sleep(max(0.0, start_at - time.monotonic()))
    before = procstat.sample(ctx.server_pid, ctx.pg_database) if not args.no_cpu else None
    t_begin = time.monotonic()
    sends = []
    for conn, proc in zip(pool.conns, pool.procs, strict=True):
        limit = time.monotonic() + duration + args.grace + 60
        while not conn.poll(0.2):
            if not proc.is_alive() or time.monotonic() > limit:
                raise RuntimeError(f"worker {proc.name} did not finish the trial")
        _, reply = conn.recv()
        if "fatal" in reply:
            raise RuntimeError(reply["fatal"])
        sends.append(reply)
    expected_total = sum(s["expected"] for s in sends)
    deadline = time.monotonic() + args.grace
    while True:  # bounded by the grace period
        rx = sum(s["rx"] for s in pool.call("stats", {}))
        if rx >= expected_total or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    t_end = time.monotonic()
    after = procstat.sample(ctx.server_pid, ctx.pg_database) if not args.no_cpu else None
    parts = pool.call("collect", {})
    cpu = (before, after) if before is not None and after is not None else None
    return Driven(sends, parts, (t_begin, t_end), cpu)


def run_trial(ctx: Context, rate: float, duration: float, measured: bool = True) -> dict[str, Any]:
    """One trial through the stages: drive, merge, report."""
    ctx.trial_no += 1
    driven = drive(ctx, ctx.trial_no, rate, duration)
    merged = merge(driven.parts)
    result = trial_result(
        trial=ctx.trial_no,
        measured=measured,
        rate=rate,
        duration=duration,
        sends=driven.sends,
        merged=merged,
        window=driven.window,
        cpu=driven.cpu,
        p99_target=ctx.args.p99_target,
    )
    ctx.all_errors.update(merged.errors)
    ctx.unanswered += result["unanswered"]
    if measured:
        ctx.trials.append(result)
    return result


def ramp(ctx: Context) -> dict[str, Any]:
    args = ctx.args
    rate = args.rate
    good: dict[str, Any] | None = None
    bad: dict[str, Any] | None = None
    for _ in range(args.ramp_max_steps):
        r = run_trial(ctx, rate, args.duration)
        ctx.log(f"  ramp {'pass' if r['passed'] else 'FAIL'}  " + describe(r))
        if r["passed"]:
            good = r
            rate = rate * args.ramp_factor
        else:
            bad = r
            break
    if good is not None and bad is not None:
        lo, hi = good["offered_rate"], bad["offered_rate"]
        for _ in range(args.ramp_bisect):
            mid = round((lo + hi) / 2.0)
            if mid <= lo or mid >= hi:
                break
            r = run_trial(ctx, mid, args.duration)
            ctx.log(f"  ramp {'pass' if r['passed'] else 'FAIL'}  " + describe(r))
            if r["passed"]:
                good, lo = r, mid
            else:
                hi = mid
    return {
        "best_rate": good["offered_rate"] if good else None,
        "best": good,
        "first_failure_rate": bad["offered_rate"] if bad else None,
        "p99_target_ms": args.p99_target,
    }


def trials(ctx: Context) -> dict[str, Any]:
    """Warm-up, then one trial at --rate or a --ramp; the report's trial entries."""
    args, log = ctx.args, ctx.log
    out: dict[str, Any] = {}
    if args.warmup > 0:
        w = run_trial(ctx, args.rate, args.warmup, measured=False)
        log("warm-up   " + describe(w))
    if args.ramp:
        out["ramp"] = ramp(ctx)
        best = out["ramp"]["best_rate"]
        log(
            f"highest rate with p99 < {args.p99_target:g} ms and no loss: "
            f"{best if best is not None else 'none (the starting rate failed)'}"
        )
    else:
        r = run_trial(ctx, args.rate, args.duration)
        log("result    " + describe(r))
    out["trials"] = ctx.trials
    out["generator_bound"] = any(t["generator_bound"] for t in ctx.trials)
    if out["generator_bound"]:
        log(
            "NOTE: the load generator was the bottleneck in some trial "
            f"({ctx.plan.n_procs} process(es)); rerun with more --procs"
        )
    return out


# ---- main ------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    resolve_defaults(args)
    if not args.allow_remote and not _is_loopback(args.url):
        print(f"refusing non-loopback URL {args.url} (use --allow-remote)", file=sys.stderr)
        return 2
    out_stream = sys.stderr if args.json == "-" else sys.stdout

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=out_stream, flush=True)

    plan = make_plan(args)
    if plan is None:
        print("need at least 2 users and sockets >= users", file=sys.stderr)
        return 2
    ctx, accepted = setup(args, plan, log)
    report: dict[str, Any] = {
        "label": args.label,
        "url": args.url,
        "transport": args.transport,
        "sockets": plan.sockets,
        "users": plan.users,
        "workload": args.workload,
        "partners": args.partners,
        "procs": plan.n_procs,
        "server_pid": ctx.server_pid,
        "run_id": plan.run_id,
    }
    log(
        f"{plan.n_procs} load process(es), {plan.sockets} {args.transport} sockets, "
        f"{plan.users} users, {len(plan.pairs)} conversations"
    )
    try:
        if args.workload == "storm":
            if not accepted and not args.no_prime and plan.pairs:
                report.update(connect(ctx))
                prime(ctx)
                ctx.pool.call("disconnect", {})
                storm.wait_idle(ctx)
            report["storm"] = storm.run(ctx)
            return _finish(ctx, report)
        report.update(connect(ctx))
        if not accepted and not args.no_prime and plan.pairs:
            prime(ctx)
        report.update(trials(ctx))
        if args.verify_db:
            report["verify"] = v = _verify(ctx)
            log(
                f"verify    acked {v['acked']}, acked_missing {v['acked_missing']}, "
                f"error events {sum(v['error_events'].values())}, disconnects "
                f"{v['disconnects']}, unanswered {v['unanswered']}"
            )
    finally:
        ctx.pool.shutdown()
    return _finish(ctx, report)


def _finish(ctx: Context, report: dict[str, Any]) -> int:
    """Write the JSON; exit status 1 when an acknowledged message is missing."""
    if ctx.args.json:
        write_json(report, ctx.args.json)
    return 1 if report.get("verify", {}).get("acked_missing") else 0


def _verify(ctx: Context) -> dict[str, Any]:
    """Gather the acked ids from the workers and look them up in --verify-db."""
    raw = b"".join(part["ids"] for part in ctx.pool.call("acked_ids", {}))
    ids = verify.split_ids(raw)
    missing = asyncio.run(verify.missing_ids(ctx.args.verify_db, ids))
    return verify.summarize(len(ids), missing, ctx.all_errors, ctx.unanswered)
