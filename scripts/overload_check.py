#!/usr/bin/env python3
"""Overload check: offer more message:send than the server can store, then check that
it sheds load visibly (errors or slower acks), keeps memory bounded and loses no
acknowledged message. See docs/benchmarks.md § Overload.

A throw-away database on --pg, a server subprocess on a free port, users seeded in
SQL, one scripts/loadtest trial with --verify-db while the server's RSS is sampled
every 0.5 s. Exit 0 only if no acked message is missing, the server still answers
/api/health and peak RSS stays under RSS-before + --rss-headroom-mb.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from project_python import use_project_python

ROOT = use_project_python(__file__, "asyncpg", "orjson")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from typing import Any  # noqa: E402

from loadtest.seed import run_statements  # noqa: E402

MB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid: int) -> int | None:
    """VmRSS of ``pid`` (None once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssSampler(threading.Thread):
    """Samples VmRSS every ``interval`` seconds until stopped; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        t0 = time.monotonic()
        while not self.halt.wait(self.interval):
            rss = rss_bytes(self.pid)
            if rss is not None:
                self.samples.append((round(time.monotonic() - t0, 1), rss))

    @property
    def peak(self) -> int:
        return max((rss for _, rss in self.samples), default=0)


async def stored_trial_messages(dsn: str) -> int:
    """Rows the trial stored (its temp ids start with ``lt-``), acknowledged or not."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT count(*) FROM messages WHERE temp_id LIKE 'lt-%'")
    finally:
        await conn.close()


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/health", timeout=10) as resp:
            return resp.status == 200
    except OSError:
        return False


def wait_idle(pid: int, limit_s: float) -> float:
    """Wait until the server uses < 5% of a core over 1 s (its backlog drained)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        before = cpu_seconds(pid)
        time.sleep(1.0)
        if cpu_seconds(pid) - before < 0.05:
            break
    return time.monotonic() - t0


def start_server(env: dict[str, str], port: int, log: Any) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "chatr_server", "serve", "--host", "127.0.0.1"]
    proc = subprocess.Popen([*cmd, "--port", str(port)], env=env, cwd=ROOT, stdout=log, stderr=log)
    for _ in range(400):
        if proc.poll() is not None:
            raise RuntimeError("the server exited at start-up (see its log)")
        if healthy(f"http://127.0.0.1:{port}"):
            return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the server did not answer /api/health")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--sockets", type=int, default=2000)
    p.add_argument("--rate", type=float, default=8000.0, help="offered message:send per s")
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--grace", type=float, default=15.0, help="seconds to wait for late acks")
    p.add_argument("--procs", default="2", help="load-generator processes")
    p.add_argument("--rss-headroom-mb", type=float, default=300.0)
    p.add_argument("--settle", type=float, default=60.0, help="max wait for the server idle")
    p.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = p.parse_args()

    import orjson

    db = f"chatr_overload_{secrets.token_hex(4)}"
    dsn = args.pg.rsplit("/", 1)[0] + f"/{db}"
    asyncio.run(run_statements(args.pg, f"CREATE DATABASE {db}"))
    asyncio.run(run_statements(args.pg, f"ALTER DATABASE {db} SET synchronous_commit = off"))
    tmp = Path(tempfile.mkdtemp(prefix="overload-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "NODE_ENV", "CHATR_ENV")}
    env.update(
        DATABASE_URL=dsn,
        JWT_SECRET=secrets.token_hex(24),
        CHATR_DATA_DIR=str(tmp / "var"),
        UPLOADS_DIR=str(tmp / "uploads"),
        LOG_LEVEL="WARNING",
    )
    server: subprocess.Popen[bytes] | None = None
    server_log = (tmp / "server.log").open("wb")
    keep_tmp = True  # the server log stays for a look when something failed
    try:
        subprocess.run([sys.executable, "-m", "chatr_server", "migrate"], env=env, cwd=ROOT,
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        server = start_server(env, port, server_log)
        time.sleep(1.0)
        rss_before = rss_bytes(server.pid) or 0
        sampler = RssSampler(server.pid)
        sampler.start()
        report_path = tmp / "loadtest.json"
        lt = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "loadtest"), "--url", url,
             "--seed-sql", dsn, f"--jwt-secret={env['JWT_SECRET']}", "--verify-db", dsn,
             "--sockets", str(args.sockets), "--rate", str(args.rate),
             "--duration", str(args.duration), "--warmup", "0", "--grace", str(args.grace),
             "--procs", args.procs, "--server-pid", str(server.pid),
             "--json", str(report_path), "--quiet"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        settle_s = wait_idle(server.pid, args.settle)
        sampler.halt.set()
        sampler.join()
        rss_after = rss_bytes(server.pid) or 0
        alive = server.poll() is None and healthy(url)
        if not report_path.exists():
            print(f"scripts/loadtest failed (exit {lt.returncode}); server log: {server_log.name}")
            return 1
        report = orjson.loads(report_path.read_bytes())
        stored = asyncio.run(stored_trial_messages(dsn))
        keep_tmp = False
    finally:
        if server is not None and server.poll() is None:
            server.terminate()
            server.wait(30)
        server_log.close()
        asyncio.run(run_statements(args.pg, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        if not keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    (trial,) = report["trials"]
    v = report["verify"]
    limit = rss_before + args.rss_headroom_mb * MB
    ok_memory = sampler.peak < limit
    ok = v["acked_missing"] == 0 and alive and ok_memory
    ack = trial["ack_latency_ms"]
    errors = {k.removeprefix("error: "): n for k, n in v["error_events"].items()}
    # The server's pace while it is flooded: acks per second during the sending.
    pace = sorted(trial["acks_per_second"][1 : int(args.duration)]) or [0]
    never = max(0, trial["sent"] - v["acked"] - sum(errors.values()) - v["blocked"])
    figures = {
        "sockets": report["connect"]["connected"],
        "offered_per_s": args.rate,
        "sent_per_s": trial["send_rate"],
        "sent": trial["sent"],
        "acked_within_grace": trial["acked"],
        "acked_total": v["acked"],
        "ack_pace_per_s": pace[len(pace) // 2],
        "ack_ms": ack,
        "errors": errors,
        "blocked": v["blocked"],
        "unanswered_after_grace": v["unanswered"],
        "never_answered": never,
        "disconnects": v["disconnects"],
        "rss_mb": {
            "before": round(rss_before / MB),
            "connected": report["memory"]["server_rss_connected_mb"],
            "peak": round(sampler.peak / MB),
            "after": round(rss_after / MB),
            "limit": round(limit / MB),
        },
        "settle_s": round(settle_s, 1),
        "acked_missing": v["acked_missing"],
        "stored": stored,
        "server_healthy_after": alive,
        "generator_bound": report["generator_bound"],
        "rss_timeline": sampler.samples,
    }
    if args.json:
        Path(args.json).write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    rss = figures["rss_mb"]
    print(
        f"## Overload check: {args.rate:.0f} msg/s offered for {args.duration:g} s, "
        f"{figures['sockets']} sockets\n\n"
        f"| | |\n|---|---|\n"
        f"| sent (offered {args.rate:.0f}/s) | {trial['sent']} ({trial['send_rate']:.0f}/s) |\n"
        f"| acknowledged within sending + {args.grace:g} s grace / in total | "
        f"{trial['acked']} / {v['acked']} |\n"
        f"| ack pace while sending (median per second) | {figures['ack_pace_per_s']}/s |\n"
        f"| ack latency p50 / p99 / max | {ack['p50']} / {ack['p99']} / {ack['max']} ms |\n"
        f"| error events | {sum(errors.values())} {errors or ''} |\n"
        f"| neither ack nor error: after the grace / at the end | {v['unanswered']} / "
        f"{never} |\n"
        f"| disconnects | {v['disconnects']} |\n"
        f"| server RSS before / {figures['sockets']} sockets idle / peak / after | "
        f"{rss['before']} / {rss['connected']:.0f} / {rss['peak']} / {rss['after']} MB "
        f"(limit {rss['limit']} MB; after = sockets closed, server idle) |\n"
        f"| acked but missing from `messages` | {v['acked_missing']} of {v['acked']} |\n"
        f"| stored in `messages` (acked or not) | {stored} of {trial['sent']} sent |\n"
        f"| server healthy after the load | {'yes' if alive else 'NO'} |\n\n"
        f"**{'PASS' if ok else 'FAIL'}**"
        + ("" if ok_memory else " — peak RSS over the limit")
        + (" (load generator saturated: sent < offered)" if report["generator_bound"] else "")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
