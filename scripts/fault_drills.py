#!/usr/bin/env python3
"""Fault drills (issue 12): break PostgreSQL, Redis and the server under load; count.

Everything is private and on loopback: a PostgreSQL cluster and a redis-server of its
own (tests/private_services.py, never the machine's shared servers), one
``python -m chatr_server serve`` subprocess pointed at them, and a steady load from
the project's load client (loadtest/steady.py: raw Socket.IO sockets of
users seeded in SQL, reconnecting like the official client). The drills, in order:

  pg-restart    PostgreSQL restarted (fast stop, start)             40 msg/s
  pg-outage     PostgreSQL stopped for --outage seconds (20)        40 msg/s
  redis-outage  redis-server killed for --outage seconds            40 msg/s
  sigterm       SIGTERM to the server (then a new one is started)  200 msg/s
  kill9         SIGKILL to the server (then a new one is started)   40 msg/s

For each: sent / acknowledged / stored / acknowledged-but-missing / stored-twice /
stored-without-ack / refused / unanswered, what the clients saw (error events by
text, disconnects, connect failures such as "Authentication error"), REST answers
during the fault (GET /api/users/me, GET /api/health/ready, login), the server's
log lines during the fault, and the time to recover (first acknowledgement after the
dependency, or the new server, is back). Bounded in time; stops by itself.

    scripts/fault_drills.py [--only pg-outage,sigterm] [--outage 20] [--json out.json]

docs/reliability.md holds the latest results and how to read them.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from project_python import use_project_python

ROOT = use_project_python(__file__, "aiohttp", "asyncpg")


import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
import orjson  # noqa: E402

from chatr_server.db.migrate import migrate  # noqa: E402
from loadtest import seed, steady, verify  # noqa: E402
from loadtest.client import SioClient  # noqa: E402
from tests.private_services import PrivatePostgres, PrivateRedis, free_port  # noqa: E402

DRILLS = ("pg-restart", "pg-outage", "redis-outage", "sigterm", "kill9")
USERS = 30  # users i % 3 == 2 stay offline: half of the messages go to offline users
WARMUP_S = 3.0
AFTER_S = 6.0  # load after the fault is over, to measure recovery
SETTLE_S = 10.0  # wait for late answers once sending stopped
START_LIMIT_S = 60.0
TOTAL_LIMIT_S = 900.0
PROBE_EVERY_S = 2.0


@dataclass
class Result:
    name: str
    rate: float
    sent: int = 0
    acked: int = 0
    stored: int = 0
    acked_missing: int = 0
    stored_twice: int = 0
    stored_unacked: int = 0
    refused: int = 0
    unanswered: int = 0
    unsent: int = 0
    recover_s: float | None = None
    exit_code: int | None = None
    drain_s: float | None = None
    refusals: dict[str, int] = field(default_factory=dict)
    client_events: dict[str, int] = field(default_factory=dict)
    rest: dict[str, int] = field(default_factory=dict)
    log_lines: int = 0
    access_lines: int = 0
    tracebacks: int = 0
    log_sample: list[str] = field(default_factory=list)


class Server:
    """The ``serve`` subprocess; restartable on the same port, one log file throughout."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path) -> None:
        self.env = env
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as fh:
            fh.seek(offset)
            return fh.read().decode(errors="replace")

    async def start(self) -> None:
        offset = self.log_size()
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "chatr_server",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_LIMIT_S
        while "listening on" not in self.log_since(offset):
            if self.proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{self.log_since(offset)}")
            await asyncio.sleep(0.05)

    async def wait_exit(self, limit_s: float) -> int | None:
        assert self.proc is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit_s):
                await self.proc.wait()
        return self.proc.returncode

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


class Probe:
    """REST calls once a second while a fault lasts; counts the answers by status."""

    def __init__(self, url: str, user: seed.User, email: str) -> None:
        self.url = url
        self.user = user
        self.email = email
        self.answers: Counter[str] = Counter()
        self._task: asyncio.Task[None] | None = None

    async def _one(
        self, http: aiohttp.ClientSession, label: str, method: str, path: str, **kw: Any
    ) -> None:
        try:
            async with http.request(method, self.url + path, **kw) as resp:
                await resp.read()
                self.answers[f"{label} {resp.status}"] += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.answers[f"{label} {type(exc).__name__}"] += 1

    async def _socket(self, http: aiohttp.ClientSession) -> None:
        """A fresh socket connection, as a client reconnecting during the fault makes."""
        client = SioClient(http, self.url, {"token": self.user.token}, lambda _n, _d: None)
        try:
            await client.connect(5.0)
            self.answers["socket connect: accepted"] += 1
        except Exception as exc:
            self.answers[f"socket connect: {str(exc) or type(exc).__name__}"[:120]] += 1
        finally:
            await client.close()

    async def _run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=5)
        auth = {"Authorization": f"Bearer {self.user.token}"}
        login = {"email": self.email, "password": seed.PASSWORD, "loginVerificationCode": "000000"}
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while True:
                await asyncio.gather(
                    self._one(http, "GET /api/users/me", "GET", "/api/users/me", headers=auth),
                    self._one(http, "GET /api/health/ready", "GET", "/api/health/ready"),
                    self._one(http, "POST /api/auth/login", "POST", "/api/auth/login", json=login),
                    self._socket(http),
                )
                await asyncio.sleep(PROBE_EVERY_S)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, int]:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        return dict(sorted(self.answers.items()))


def _summarise_log(text: str, result: Result) -> None:
    lines = [line for line in text.splitlines() if line.strip()]
    result.log_lines = len(lines)
    result.tracebacks = sum(1 for line in lines if line.startswith("Traceback"))
    result.access_lines = sum(1 for line in lines if "aiohttp.access" in line)
    shapes: Counter[str] = Counter()
    for line in lines:
        if not re.match(r"\d{4}-\d\d-\d\d ", line) or "aiohttp.access" in line:
            continue  # traceback continuation lines, access log
        shape = re.sub(r"^\S+ \S+ ", "", line)  # drop the timestamp
        shape = re.sub(r" request_id=\w+", "", shape)
        shape = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|\b\d+(\.\d+)?\b", "#", shape)[:160]
        shapes[shape] += 1
    result.log_sample = [f"{n}× {shape}" for shape, n in shapes.most_common(8)]


async def _first_ack_after(load: steady.SteadyLoad, since: float, limit_s: float) -> float | None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        later = [t for t in load.tally.ack_times if t >= since]
        if later:
            return min(later) - since
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                await load.changed.wait()
    return None


async def run_drill(
    name: str,
    rate: float,
    server: Server,
    pg: PrivatePostgres,
    redis: PrivateRedis,
    users: list[seed.User],
    run: str,
    dsn: str,
    outage_s: float,
) -> Result:
    result = Result(name, rate)
    prefix = f"drill-{run}-{name}-"
    load = steady.SteadyLoad(server.url, users, rate, prefix, online=lambda i: i % 3 != 2)
    await load.start()
    probe = Probe(server.url, users[0], f"lt_{run}_0@example.com")
    await asyncio.sleep(WARMUP_S)
    offset = server.log_size()
    probe.start()
    back = time.monotonic()
    if name == "pg-restart":
        await asyncio.to_thread(pg.restart)
        back = time.monotonic()
    elif name == "pg-outage":
        await asyncio.to_thread(pg.stop)
        await asyncio.sleep(outage_s)
        await asyncio.to_thread(pg.start)
        back = time.monotonic()
    elif name == "redis-outage":
        redis.kill()
        await asyncio.sleep(outage_s)
        await asyncio.to_thread(redis.start)
        back = time.monotonic()
    elif name in ("sigterm", "kill9"):
        assert server.proc is not None
        signalled = time.monotonic()
        server.proc.send_signal(signal.SIGTERM if name == "sigterm" else signal.SIGKILL)
        result.exit_code = await server.wait_exit(30.0)
        result.drain_s = round(time.monotonic() - signalled, 2)
        await server.stop()
        await server.start()
        back = time.monotonic()
    result.recover_s = await _first_ack_after(load, back, AFTER_S + 20)
    if result.recover_s is not None:
        result.recover_s = round(result.recover_s, 2)
    await asyncio.sleep(AFTER_S)
    result.rest = await probe.stop()
    _summarise_log(server.log_since(offset), result)
    await load.stop_sending()
    await load.settle(SETTLE_S)
    await load.stop()
    tally = load.tally
    rows = await steady.stored(dsn, prefix)
    acked_ids = steady.as_uuids(list(tally.acked.values()))
    result.sent = tally.sent
    result.acked = len(tally.acked)
    result.stored = sum(len(ids) for ids in rows.values())
    result.acked_missing = len(await verify.missing_ids(dsn, acked_ids))
    result.stored_twice = sum(1 for ids in rows.values() if len(ids) > 1)
    result.stored_unacked = sum(1 for temp in rows if temp not in tally.acked)
    result.refused = sum(tally.refused.values())
    result.unanswered = max(0, result.sent - result.acked - result.refused)
    result.unsent = tally.unsent
    result.refusals = dict(tally.refused.most_common())
    result.client_events = dict(tally.events.most_common())
    return result


def table(results: list[Result]) -> str:
    head = (
        "| drill | rate | sent | acked | stored | acked-missing | stored-twice "
        "| stored-unacked | refused | unanswered | auth errors | log lines | recover (s) | exit |"
    )
    rows = [head, "|" + "---|" * 14]
    for r in results:
        exit_text = "" if r.exit_code is None else f"{r.exit_code} in {r.drain_s} s"
        rows.append(
            f"| {r.name} | {r.rate:g} | {r.sent} | {r.acked} | {r.stored} | {r.acked_missing} "
            f"| {r.stored_twice} | {r.stored_unacked} | {r.refused} | {r.unanswered} "
            f"| {_auth_errors(r)} | {r.log_lines} "
            f"| {r.recover_s if r.recover_s is not None else 'never'} | {exit_text} |"
        )
    return "\n".join(rows)


def _auth_errors(r: Result) -> int:
    """Every "Authentication error" a client saw: on its sockets or its new connections."""
    seen = {**r.client_events, **r.rest, **r.refusals}
    return sum(n for text, n in seen.items() if "Authentication error" in text)


def details(r: Result) -> str:
    out = [f"### {r.name}", ""]
    out.append(f"- clients, refusals: {r.refusals or 'none'}")
    out.append(f"- clients, connection events: {r.client_events or 'none'}")
    if r.unsent:
        out.append(f"- sends skipped while no socket was connected: {r.unsent}")
    out.append(f"- REST and new sockets during the fault: {r.rest or 'none'}")
    out.append(
        f"- server log during the fault: {r.log_lines} lines ({r.access_lines} of them the"
        f" access log of the drill's own REST probes), {r.tracebacks} tracebacks"
    )
    out.extend(f"    - {line}" for line in r.log_sample)
    return "\n".join(out)


async def main_async(args: argparse.Namespace) -> int:
    chosen = [d for d in DRILLS if not args.only or d in args.only.split(",")]
    run = secrets.token_hex(3)
    root = Path(tempfile.mkdtemp(prefix="chatr-drills-"))
    pg = PrivatePostgres()
    redis = PrivateRedis()
    server: Server | None = None
    results: list[Result] = []
    try:
        await asyncio.to_thread(pg.start)
        redis.start()
        admin = await asyncpg.connect(pg.dsn)
        await admin.execute("CREATE DATABASE chatr_drills")
        await admin.close()
        dsn = pg.dsn_for("chatr_drills")
        conn = await asyncpg.connect(dsn)
        await migrate(conn)
        await conn.close()
        secret = secrets.token_urlsafe(48)
        users = await steady.seed_ring(dsn, secret, USERS, run)
        env = {
            **os.environ,
            "DATABASE_URL": dsn,
            "REDIS_URL": redis.url,
            "REDIS_PREFIX": f"drills-{run}:",
            "JWT_SECRET": secret,
            "CHATR_TEST_MODE": "1",
            "RATE_LIMITS_ENABLED": "false",
            "LOG_LEVEL": "INFO",
            "CHATR_DATA_DIR": str(root / "var"),
            "UPLOADS_DIR": str(root / "uploads"),
            "SHUTDOWN_GRACE_SECONDS": "1",
            "SHUTDOWN_TIMEOUT_SECONDS": "15",
        }
        for name in ("NODE_ENV", "CHATR_ENV", "WEB_WORKERS", "PORT", "HOST"):
            env.pop(name, None)
        server = Server(env, free_port(), root / "server.log")
        await server.start()
        print(
            f"server {server.url}, PostgreSQL :{pg.port}, Redis :{redis.port}, "
            f"log {server.log_path}",
            flush=True,
        )
        for name in chosen:
            rate = args.sigterm_rate if name == "sigterm" else args.rate
            print(f"== {name} at {rate:g} msg/s", flush=True)
            result = await run_drill(name, rate, server, pg, redis, users, run, dsn, args.outage)
            results.append(result)
            print(table([result]).splitlines()[-1], flush=True)
    finally:
        if server is not None:
            await server.stop()
        redis.close()
        await asyncio.to_thread(pg.close)
    print()
    print(table(results))
    print()
    for r in results:
        print(details(r))
        print()
    if args.json:
        data = orjson.dumps([r.__dict__ for r in results], option=orjson.OPT_INDENT_2)
        await asyncio.to_thread(Path(args.json).write_bytes, data)
    lost = sum(r.acked_missing + r.stored_twice for r in results)
    return 1 if lost else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(DRILLS)}")
    parser.add_argument("--rate", type=float, default=40.0, help="msg/s (default 40)")
    parser.add_argument("--sigterm-rate", type=float, default=200.0, help="msg/s for sigterm")
    parser.add_argument("--outage", type=float, default=20.0, help="seconds down (default 20)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    async def bounded() -> int:
        async with asyncio.timeout(TOTAL_LIMIT_S):
            return await main_async(args)

    return asyncio.run(bounded())


if __name__ == "__main__":
    sys.exit(main())
