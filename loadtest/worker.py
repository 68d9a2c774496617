"""One load-generator process: owns a slice of the sockets, sends and receives.

The coordinator talks to it over a multiprocessing pipe with small commands
(connect, prime, run, stats, collect, acked_ids, storm_check, disconnect, close)
and gets plain dicts back. The
message content carries ``trial|proc|seq|t_send`` (monotonic clock, which is
system-wide on Linux), so the recipient — in whichever process — measures
the end-to-end latency and the coordinator can match every delivery to its
send. With ``record_acks`` the worker also keeps the stored id (16 bytes) of
every acknowledged send, trial or not, for the coordinator's database check.

Workloads: ``accepted`` sends to a random ring partner, ``first`` to a random
user among all (a first contact for nearly every pair), ``storm`` sends
nothing: it records, per socket, the connect sequence's events (``socket:ready``,
``presence:update`` snapshot, ``user:status`` online) so the coordinator can
check that every contact learned that every other contact is online.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from array import array
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from loadtest.client import SioClient

KEY_SHIFT = 40  # key = proc << 40 | seq


class Worker:
    def __init__(self, conn: Connection, cfg: dict[str, Any]) -> None:
        self.conn = conn
        self.cfg = cfg
        self.proc: int = cfg["proc"]
        self.users: list[dict[str, str]] = cfg["users"]
        self.n_users = len(self.users)
        self.slots: list[int] = cfg["sockets"]  # global socket indices owned here
        self.partners: list[list[int]] = cfg["partners"]
        self.sockets_of_user: list[int] = cfg["sockets_of_user"]
        self.ready_event: str = cfg["ready_event"]
        self.workload: str = cfg.get("workload", "accepted")
        self.index_of = {u["id"]: i for i, u in enumerate(self.users)}
        self.socks: list[SioClient | None] = [None] * len(self.slots)
        self.ready: list[asyncio.Future[Any] | None] = [None] * len(self.slots)
        self.errors: Counter[str] = Counter()
        self.record_acks: bool = bool(cfg.get("record_acks"))
        self.acked_ids = bytearray()  # 16-byte message ids, drained by ``acked_ids``
        self.trial = -1
        self.t0 = 0.0
        self._reset()
        self.prime_acks: list[dict[str, Any]] = []
        self.http: aiohttp.ClientSession | None = None
        self.stop = asyncio.Event()
        self._reset_storm()

    def _reset_storm(self) -> None:
        """Per-socket records of the connect sequence (storm workload)."""
        n = len(self.slots)
        self.ready_seen = array("I", [0]) * n
        self.presence_seen = array("I", [0]) * n
        # Users each socket learned are online: snapshot entries and user:status.
        self.learned: list[set[int]] = [set() for _ in range(n)]
        self.status_online = 0
        self.presence_events = 0

    def _reset(self) -> None:
        self.rx_keys = array("q")
        self.rx_lat = array("d")
        self.rx_sent_at = array("d")
        self.ack_lat = array("d")
        self.ack_at = array("d")
        self.expected = array("B")
        self.rx_status: Counter[str] = Counter()
        self.late = 0
        self.sent = 0
        self.acked = 0
        self.send_errors = 0  # ``error`` / ``message:blocked`` answers during the trial

    # ---- events -------------------------------------------------------

    def _handler(self, i: int) -> Any:
        def on_event(name: str, data: Any) -> None:
            if name == "message:received":
                self._received(data)
            elif name == "message:sent":
                self._acked(data)
            elif name == self.ready_event:
                self.ready_seen[i] += 1
                fut = self.ready[i]
                if fut is not None and not fut.done():
                    fut.set_result(None)
            elif name == "user:status":
                self._user_status(i, data)
            elif name == "presence:update":
                self._presence_update(i, data)
            elif name in ("error", "message:blocked", "connect_error"):
                detail = data
                if isinstance(data, dict):
                    detail = data.get("message") or data.get("reason")
                self.errors[f"{name}: {detail}"] += 1
                if name != "connect_error":
                    self.send_errors += 1

        return on_event

    def _parse(self, data: Any) -> tuple[int, int, int, float] | None:
        try:
            trial, proc, seq, t = data["content"].split("|")
            return int(trial), int(proc), int(seq), float(t)
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def _received(self, data: Any) -> None:
        now = time.monotonic()
        parsed = self._parse(data)
        if parsed is None:
            return
        trial, proc, seq, t = parsed
        if trial != self.trial:
            self.late += 1
            return
        self.rx_keys.append((proc << KEY_SHIFT) | seq)
        self.rx_lat.append(now - t)
        self.rx_sent_at.append(t)
        self.rx_status[str(data.get("status"))] += 1

    def _acked(self, data: Any) -> None:
        now = time.monotonic()
        if self.record_acks:
            try:
                self.acked_ids += uuid.UUID(data["id"]).bytes
            except (KeyError, TypeError, ValueError, AttributeError):
                self.errors["message:sent without a valid id"] += 1
        parsed = self._parse(data)
        if parsed is None:
            if isinstance(data, dict) and str(data.get("tempId", "")).startswith("prime-"):
                self.prime_acks.append(data)
            return
        trial, _proc, _seq, t = parsed
        if trial == self.trial:
            self.acked += 1
            self.ack_lat.append(now - t)
            self.ack_at.append(now)

    def _user_status(self, i: int, data: Any) -> None:
        if isinstance(data, dict) and data.get("status") == "online":
            self.status_online += 1
            who = self.index_of.get(data.get("userId"))
            if who is not None:
                self.learned[i].add(who)

    def _presence_update(self, i: int, data: Any) -> None:
        self.presence_events += 1
        self.presence_seen[i] += 1
        online = data.get("onlineUsers") if isinstance(data, dict) else None
        for entry in online or ():
            who = self.index_of.get(entry.get("userId")) if isinstance(entry, dict) else None
            if who is not None:
                self.learned[i].add(who)

    def _closed(self, client: SioClient, reason: str) -> None:
        self.errors[f"disconnected: {reason}"] += 1

    # ---- commands -----------------------------------------------------

    async def connect(self, args: dict[str, Any]) -> dict[str, Any]:
        sem = asyncio.Semaphore(args["concurrency"])
        timeout = args["timeout"]
        times = array("d")
        loop = asyncio.get_running_loop()
        assert self.http is not None
        self._reset_storm()
        cpu0 = time.process_time()
        starts: list[float] = []
        readies: list[float] = []

        async def one(i: int) -> None:
            user = self.users[self.slots[i] % self.n_users]
            async with sem:
                client = SioClient(
                    self.http,
                    self.cfg["url"],
                    {"token": user["token"]},
                    self._handler(i),
                    transport=self.cfg["transport"],
                    on_close=self._closed,
                )
                self.ready[i] = loop.create_future() if self.ready_event else None
                t0 = time.monotonic()
                starts.append(t0)
                try:
                    await client.connect(timeout)
                    fut = self.ready[i]
                    if fut is not None:
                        await asyncio.wait_for(fut, timeout)
                except Exception as exc:
                    self.errors[f"connect: {type(exc).__name__}: {exc}"[:200]] += 1
                    await client.close()
                    return
                t1 = time.monotonic()
                readies.append(t1)
                times.append(t1 - t0)
                self.socks[i] = client

        t0 = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(len(self.slots))))
        elapsed = time.monotonic() - t0
        return {
            "connected": len(times),
            "users": sorted({self.slots[i] % self.n_users for i, c in enumerate(self.socks) if c}),
            "times": times.tobytes(),
            "elapsed": elapsed,
            # Monotonic clock (system-wide): the coordinator spans all workers.
            "first_start": min(starts, default=None),
            "last_ready": max(readies, default=None),
            "cpu_s": time.process_time() - cpu0,
            "errors": dict(self.errors),
        }

    async def storm_check(self, args: dict[str, Any]) -> dict[str, Any]:
        """The connect sequence's events so far, and the contact pairs not yet told.

        A socket of user u must have got one ``socket:ready`` and one
        ``presence:update``, and for every contact v of u that is online
        (``args["online"]``: one byte per user, from every worker) either v in
        the snapshot or ``user:status {userId: v, status: online}``.
        """
        online: bytes = args["online"]
        violations = 0
        sample: list[tuple[int, int]] = []
        pairs = 0
        for i, g in enumerate(self.slots):
            if self.socks[i] is None:
                continue
            u = g % self.n_users
            seen = self.learned[i]
            for v in self.partners[u]:
                if not online[v]:
                    continue  # v never connected: nothing to learn
                pairs += 1
                if v not in seen:
                    violations += 1
                    if len(sample) < 10:
                        sample.append((u, v))
        live = [i for i, s in enumerate(self.socks) if s is not None]
        return {
            "sockets": len(live),
            "ready_missing": sum(1 for i in live if self.ready_seen[i] == 0),
            "ready_repeated": sum(1 for i in live if self.ready_seen[i] > 1),
            "presence_not_one": sum(1 for i in live if self.presence_seen[i] != 1),
            "presence_update": self.presence_events,
            "user_status_online": self.status_online,
            "pairs": pairs,
            "violations": violations,
            "sample": sample,
            "errors": dict(self.errors),
        }

    async def disconnect(self, _: dict[str, Any]) -> dict[str, Any]:
        """Close every socket (close handshake done), keep the process for another storm."""
        socks = [s for s in self.socks if s is not None]
        await asyncio.gather(*(s.close() for s in socks), return_exceptions=True)
        self.socks = [None] * len(self.slots)
        self.ready = [None] * len(self.slots)
        return {"closed": len(socks)}

    async def prime(self, args: dict[str, Any]) -> dict[str, Any]:
        """Send one message per (from, to) pair and wait for the acks."""
        self.prime_acks = []
        pairs = args["pairs"]
        by_user = {g % self.n_users: s for g, s in zip(self.slots, self.socks, strict=True) if s}
        count = 0
        for a, b in pairs:
            sock = by_user.get(a)
            if sock is None:
                continue
            sock.emit(
                "message:send",
                {
                    "recipientId": self.users[b]["id"],
                    "content": "hello",
                    "tempId": f"prime-{args['run']}-{a}-{b}-{args['phase']}",
                },
            )
            count += 1
            if count % 200 == 0:
                await asyncio.sleep(0.05)
        deadline = time.monotonic() + args["timeout"]
        while len(self.prime_acks) < count and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        return {
            "sent": count,
            "acked": len(self.prime_acks),
            "statuses": dict(Counter(a.get("conversationStatus") for a in self.prime_acks)),
        }

    async def run(self, args: dict[str, Any]) -> dict[str, Any]:
        self.trial = args["trial"]
        self._reset()
        rate = args["rate"]
        duration = args["duration"]
        total = int(rate * duration)
        live = [s for s in self.socks if s is not None and s.connected]
        live_users = [
            g % self.n_users
            for g, s in zip(self.slots, self.socks, strict=True)
            if s is not None and s.connected
        ]
        users, partners, tabs = self.users, self.partners, self.sockets_of_user
        trial, proc = self.trial, self.proc
        first, n_users = self.workload == "first", self.n_users
        rnd = random.Random(args["seed"] * 1000 + proc)
        tick = min(0.005, max(0.001, 1.0 / rate)) if rate > 0 else 0.005
        max_behind = 0
        cpu0 = time.process_time()
        await asyncio.sleep(max(0.0, args["start_at"] - time.monotonic()))
        t0 = self.t0 = time.monotonic()
        sent = 0
        expected = self.expected
        if live and total > 0:
            while sent < total:
                now = time.monotonic()
                due = min(total, int((now - t0) * rate) + 1) - sent
                if due > max_behind:
                    max_behind = due
                for _ in range(due):
                    k = rnd.randrange(len(live))
                    sock = live[k]
                    while not sock.connected and live:
                        # Drop sockets the server closed; the schedule goes on without them.
                        self.errors["sender socket closed during the trial"] += 1
                        live[k], live_users[k] = live[-1], live_users[-1]
                        live.pop()
                        live_users.pop()
                        if live:
                            k = rnd.randrange(len(live))
                            sock = live[k]
                    if not live:
                        break
                    if first:
                        # Any other user: nearly every pair is new (a first contact).
                        to = rnd.randrange(n_users - 1)
                        if to >= live_users[k]:
                            to += 1
                    else:
                        to = rnd.choice(partners[live_users[k]])
                    t = time.monotonic()
                    sock.emit(
                        "message:send",
                        {
                            "recipientId": users[to]["id"],
                            "content": f"{trial}|{proc}|{sent}|{t:.6f}",
                            "tempId": f"lt-{args['run']}-{trial}-{proc}-{sent}",
                        },
                    )
                    expected.append(tabs[to])
                    sent += 1
                    self.sent = sent
                if not live:
                    self.errors["every socket closed: trial aborted"] += 1
                    break
                if sent >= total or time.monotonic() - t0 > duration + 30:
                    break
                await asyncio.sleep(tick)
        send_elapsed = time.monotonic() - t0
        deadline = time.monotonic() + args["ack_grace"]
        while (  # noqa: ASYNC110
            self.acked + self.send_errors < sent and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.02)
        return {
            "sent": sent,
            "acked": self.acked,
            "send_errors": self.send_errors,
            "expected": int(sum(expected)),
            "send_elapsed": send_elapsed,
            "max_behind": max_behind,
            "live_sockets_at_end": len(live),
            "cpu_s": time.process_time() - cpu0,
            "wall_s": time.monotonic() - t0,
        }

    async def stats(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"rx": len(self.rx_keys), "acked": self.acked, "sent": self.sent}

    async def collect(self, _: dict[str, Any]) -> dict[str, Any]:
        out = {
            "proc": self.proc,
            "rx_keys": self.rx_keys.tobytes(),
            "rx_lat": self.rx_lat.tobytes(),
            "rx_sent_at": self.rx_sent_at.tobytes(),
            "t0": self.t0,
            "ack_lat": self.ack_lat.tobytes(),
            "ack_at": self.ack_at.tobytes(),
            "expected": self.expected.tobytes(),
            "rx_status": dict(self.rx_status),
            "late": self.late,
            "errors": dict(self.errors),
            "connected_now": sum(1 for s in self.socks if s is not None and s.connected),
        }
        self.errors.clear()
        return out

    async def acked_ids_cmd(self, _: dict[str, Any]) -> dict[str, Any]:
        """Drain the ids of the acknowledged sends (``record_acks``)."""
        out, self.acked_ids = bytes(self.acked_ids), bytearray()
        return {"ids": out}

    async def close(self, _: dict[str, Any]) -> dict[str, Any]:
        await asyncio.gather(
            *(s.close() for s in self.socks if s is not None), return_exceptions=True
        )
        self.stop.set()
        return {"closed": True}

    # ---- loop ---------------------------------------------------------

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        self.http = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None)
        )
        handlers = {
            "connect": self.connect,
            "prime": self.prime,
            "run": self.run,
            "stats": self.stats,
            "collect": self.collect,
            "acked_ids": self.acked_ids_cmd,
            "storm_check": self.storm_check,
            "disconnect": self.disconnect,
            "close": self.close,
        }
        tasks: set[asyncio.Task[None]] = set()

        async def handle(name: str, args: dict[str, Any]) -> None:
            try:
                reply = await handlers[name](args)
            except Exception as exc:
                reply = {"fatal": f"{type(exc).__name__}: {exc}"}
            # A blocking send in a thread: results can be megabytes, and the pipe
            # stays in blocking mode (an event-loop reader would make it non-blocking).
            await loop.run_in_executor(None, self.conn.send, (name, reply))

        def dispatch(name: str, args: dict[str, Any]) -> None:
            task = loop.create_task(handle(name, args))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        def reader() -> None:  # a thread: commands arrive one at a time
            while not self.stop.is_set():
                try:
                    name, args = self.conn.recv()
                except (EOFError, OSError):
                    loop.call_soon_threadsafe(self.stop.set)
                    return
                loop.call_soon_threadsafe(dispatch, name, args)
                if name == "close":
                    return

        thread = threading.Thread(target=reader, name="commands", daemon=True)
        thread.start()
        try:
            await self.stop.wait()
            await asyncio.sleep(0.05)
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await self.http.close()


def main(conn: Connection, cfg: dict[str, Any]) -> None:
    """Entry point of a worker process."""
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    runner(Worker(conn, cfg).serve())
