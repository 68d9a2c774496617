#!/usr/bin/env python3
"""Fan-out check: does a message cost anything on nodes that hold neither of its users?

For each node count N (default 2, 4, 8): N ``serve`` processes on loopback sharing a
throw-away database (on --pg) and a private redis-server (never the machine's shared
one; ``--cluster`` starts a private 3-master Redis Cluster instead). Senders connect to
node 1, their recipients to node 2, and ``--idle`` users with open sockets to every other
node. The senders send DMs at ``--rate`` messages/s for ``--duration`` s; the script then
reports, per node, CPU per delivered message net of the node's idle CPU (from /proc,
measured over an idle window of --idle-window s first), Redis output bytes per message (INFO stats
``total_net_output_bytes``), and whether every message was delivered exactly once.

Targets (issue 16): bystander nodes ≤ 5 % of the receiving node's CPU per message; Redis
output bytes per message with 8 nodes ≤ 1.3× the 2-node figure. Exit 0 only if met.
The machine may be shared: keep ``--rate`` modest (the default is the issue's 200/s).
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from project_python import use_project_python

ROOT = use_project_python(__file__, "asyncpg", "orjson", "redis")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from typing import Any  # noqa: E402

import aiohttp  # noqa: E402
import orjson  # noqa: E402
from redis import Redis  # noqa: E402
from redis.cluster import RedisCluster  # noqa: E402

from loadtest.client import SioClient  # noqa: E402
from loadtest.seed import run_statements, seed_sql  # noqa: E402
from tests.helpers import free_port  # noqa: E402
from tests.private_services import PrivateRedis, PrivateRedisCluster  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """CPU time of every thread of ``pid``, in ns resolution (``/proc/<pid>/task/*/
    schedstat``; ``/proc/<pid>/stat`` counts 10 ms ticks, too coarse for a bystander)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that just ended
    return total / 1e9


def redis_stats(url: str, cluster: bool) -> tuple[int, int]:
    """(``total_net_output_bytes``, ``total_commands_processed``) over every server."""
    fields = ("total_net_output_bytes", "total_commands_processed")
    if cluster:
        client = RedisCluster.from_url(url)
        try:
            stats = list(client.info("stats", target_nodes=RedisCluster.PRIMARIES).values())
        finally:
            client.close()
    else:
        with Redis.from_url(url) as plain:
            stats = [plain.info("stats")]
    out, commands = (sum(int(s[f]) for s in stats) for f in fields)
    return out, commands


Node = tuple[subprocess.Popen[bytes], str]


def start_nodes(n: int, env: dict[str, str], tmp: Path) -> list[Node]:
    nodes = []
    for i in range(n):
        port = free_port()
        log = (tmp / f"node{i + 1}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "chatr_server", "serve", "--host", "127.0.0.1",
             "--port", str(port)],
            env=env, cwd=ROOT, stdout=log, stderr=log,
        )  # fmt: skip
        nodes.append((proc, f"http://127.0.0.1:{port}"))
    return nodes


async def wait_healthy(nodes: list[Node]) -> None:
    async with aiohttp.ClientSession() as http:
        for proc, url in nodes:
            for _ in range(600):
                if proc.poll() is not None:
                    raise RuntimeError(f"node {url} exited at start-up")
                try:
                    async with http.get(f"{url}/api/health") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError(f"node {url} did not answer /api/health")


async def idle_rate(pids: list[int], seconds: float) -> list[float]:
    before = [cpu_seconds(pid) for pid in pids]
    await asyncio.sleep(seconds)
    return [(cpu_seconds(pid) - b) / seconds for pid, b in zip(pids, before, strict=True)]


async def one_run(n: int, args: Any, users: list[Any], env: dict[str, str], tmp: Path,
                  redis_url: str) -> dict[str, Any]:  # fmt: skip
    senders = users[: args.senders]
    recipients = users[args.senders : 2 * args.senders]
    idle = users[2 * args.senders :]
    env = {**env, "REDIS_PREFIX": f"fanout-{n}-{secrets.token_hex(3)}:"}
    nodes = start_nodes(n, env, tmp)
    received: Counter[str] = Counter()
    acked: set[str] = set()
    errors: Counter[str] = Counter()
    clients: list[SioClient] = []
    try:
        await wait_healthy(nodes)
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

        def handler(name: str, data: Any) -> None:
            if not isinstance(data, dict):
                return
            if name == "message:received":  # the message, its number in the content
                content = str(data.get("content", ""))
                if content.startswith("fo-"):
                    received[content] += 1
            elif name == "message:sent":
                acked.add(str(data.get("tempId", "")))
            elif name == "error":
                errors[str(data.get("message"))] += 1

        async def attach(user: Any, url: str) -> None:
            client = SioClient(http, url, {"token": user.token}, handler, "websocket")
            await client.connect(20.0)
            clients.append(client)

        plan = [(u, nodes[0][1]) for u in senders] + [(u, nodes[1][1]) for u in recipients]
        for k in range(2, n):
            plan += [(u, nodes[k][1]) for u in idle[(k - 2) * args.idle : (k - 1) * args.idle]]
        sem = asyncio.Semaphore(20)

        async def bounded(user: Any, url: str) -> None:
            async with sem:
                await attach(user, url)

        await asyncio.gather(*(bounded(u, url) for u, url in plan))
        pids = [proc.pid for proc, _ in nodes]
        await asyncio.sleep(2.0)  # connect-time work (presence, subscriptions) done
        idle_cpu = await idle_rate(pids, args.idle_window)

        total = int(args.rate * args.duration)
        out_before, commands_before = redis_stats(redis_url, args.cluster)
        cpu_before = [cpu_seconds(pid) for pid in pids]
        started = time.monotonic()
        by_user = {c._auth["token"]: c for c in clients}
        interval = 1.0 / args.rate
        tag = secrets.token_hex(3)  # temp ids are idempotency keys: fresh ones per run
        for i in range(total):
            s = i % args.senders
            by_user[senders[s].token].emit(
                "message:send",
                {
                    "recipientId": recipients[s].id,
                    "content": f"fo-{tag}-{i}",
                    "tempId": f"fo-{tag}-{i}",
                },
            )
            delay = started + (i + 1) * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        deadline = time.monotonic() + args.grace
        while len(received) < total and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started
        cpu_after = [cpu_seconds(pid) for pid in pids]
        out_after, commands_after = redis_stats(redis_url, args.cluster)
        delivered = sum(received.values())
        per_msg_us = [
            max(0.0, (after - before - rate * elapsed)) / max(1, delivered) * 1e6
            for before, after, rate in zip(cpu_before, cpu_after, idle_cpu, strict=True)
        ]
        for client in clients:
            await client.close()
        await http.close()
        return {
            "nodes": n,
            "sent": total,
            "acked": len(acked),
            "delivered": delivered,
            "distinct": len(received),
            "duplicates": sum(c - 1 for c in received.values() if c > 1),
            "errors": dict(errors),
            "seconds": round(elapsed, 2),
            "idle_cpu_pct": [round(r * 100, 2) for r in idle_cpu],
            "cpu_us_per_msg": [round(x, 1) for x in per_msg_us],
            "redis_bytes_per_msg": round((out_after - out_before) / max(1, delivered), 1),
            # INFO's own calls count too (2 per sample): negligible over thousands.
            "redis_commands_per_msg": round(
                (commands_after - commands_before) / max(1, delivered), 2
            ),
        }
    finally:
        for proc, _ in nodes:
            if proc.poll() is None:
                proc.terminate()
        for proc, _ in nodes:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


async def main_async(args: Any) -> int:
    counts = [int(x) for x in args.nodes.split(",")]
    db = f"chatr_fanout_{secrets.token_hex(4)}"
    dsn = args.pg.rsplit("/", 1)[0] + f"/{db}"
    await run_statements(args.pg, f"CREATE DATABASE {db}")
    await run_statements(args.pg, f"ALTER DATABASE {db} SET synchronous_commit = off")
    tmp = Path(tempfile.mkdtemp(prefix="fanout-"))
    redis: Any = PrivateRedisCluster(3) if args.cluster else PrivateRedis()
    secret = secrets.token_hex(24)
    env = {k: v for k, v in os.environ.items() if k not in ("NODE_ENV", "CHATR_ENV")}
    env.update(
        DATABASE_URL=dsn,
        JWT_SECRET=secret,
        CHATR_DATA_DIR=str(tmp / "var"),
        UPLOADS_DIR=str(tmp / "uploads"),
        LOG_LEVEL="WARNING",
        RATE_LIMITS_ENABLED="false",
        REDIS_CLUSTER="1" if args.cluster else "0",
        DATABASE_POOL_SIZE="5",
    )
    env.pop("WEB_WORKERS", None)
    results = []
    ok = True
    try:
        redis.start()
        env["REDIS_URL"] = redis.url
        migrate = [sys.executable, "-m", "chatr_server", "migrate"]
        await asyncio.to_thread(
            subprocess.run, migrate, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL
        )
        n_users = 2 * args.senders + args.idle * max(0, max(counts) - 2)
        pairs = [(i, args.senders + i) for i in range(args.senders)]
        users = await seed_sql(dsn, secret, n_users, secrets.token_hex(3), pairs)
        for n in counts:
            result = await one_run(n, args, users, env, tmp, redis.url)
            results.append(result)
            print(orjson.dumps(result).decode(), flush=True)
    finally:
        redis.close()
        await run_statements(args.pg, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(
        "| nodes | delivered (once) | node 1 (senders) µs/msg | node 2 (recipients) µs/msg"
        " | bystander nodes µs/msg (max) | bystander / receiver | Redis out B/msg"
        " | Redis commands/msg |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    base_bytes = results[0]["redis_bytes_per_msg"] if results else 0
    for r in results:
        cpu = r["cpu_us_per_msg"]
        bystanders = cpu[2:]
        worst = max(bystanders) if bystanders else 0.0
        ratio = worst / cpu[1] if cpu[1] else 0.0
        once = r["delivered"] == r["distinct"] == r["sent"] and not r["duplicates"]
        ok &= once and ratio <= 0.05
        if r["nodes"] == 8 and base_bytes:
            ok &= r["redis_bytes_per_msg"] <= 1.3 * base_bytes
        print(f"| {r['nodes']} | {r['delivered']}/{r['sent']}{'' if once else ' ✗'} "
              f"| {cpu[0]:.0f} | {cpu[1]:.0f} | {worst:.1f} | {ratio * 100:.1f} % "
              f"| {r['redis_bytes_per_msg']:.0f} ({r['redis_bytes_per_msg'] / base_bytes:.2f}×)"
              f" | {r['redis_commands_per_msg']:.1f} |")  # fmt: skip
    print("\nOK" if ok else "\nTARGETS NOT MET")
    return 0 if ok else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--nodes", default="2,4,8", help="node counts to run (comma-separated)")
    p.add_argument("--senders", type=int, default=40)
    p.add_argument("--idle", type=int, default=50, help="idle users on each bystander node")
    p.add_argument("--rate", type=float, default=200.0, help="messages per second (total)")
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--idle-window", type=float, default=10.0, help="seconds of idle CPU sampling")
    p.add_argument("--grace", type=float, default=15.0)
    p.add_argument("--cluster", action="store_true", help="a private 3-master Redis Cluster")
    return asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
