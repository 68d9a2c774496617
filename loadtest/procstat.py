"""CPU time and resident memory of process trees, read from /proc (Linux).

``utime + stime`` of /proc/<pid>/stat covers every thread of a process; a
tree is the process and all its live descendants (worker processes, a
PostgreSQL embedded by the server). PostgreSQL's CPU is the sum over the
processes named ``postgres``; given a database name, only the backends
serving that database (from their process title ``postgres: … <user> <db>
<client> <state>``), because a shared PostgreSQL server also does other
people's work in its background processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True, slots=True)
class Stat:
    pid: int
    ppid: int
    comm: str
    cpu_s: float  # utime + stime of all threads
    rss_bytes: int


def _read_stat(pid: int) -> Stat | None:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm may contain spaces and parentheses: split at the last ')'.
    head, _, rest = raw.rpartition(")")
    comm = head.partition("(")[2]
    fields = rest.split()
    # fields[0] is state (field 3); utime/stime are fields 14/15, rss field 24.
    ppid = int(fields[1])
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    rss = int(fields[21]) * PAGE
    return Stat(pid, ppid, comm, cpu, rss)


def all_stats() -> list[Stat]:
    out = []
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            stat = _read_stat(int(entry.name))
            if stat is not None:
                out.append(stat)
    return out


def tree(root: int, stats: list[Stat] | None = None) -> list[Stat]:
    """``root`` and its live descendants."""
    stats = all_stats() if stats is None else stats
    children: dict[int, list[Stat]] = {}
    by_pid = {}
    for s in stats:
        children.setdefault(s.ppid, []).append(s)
        by_pid[s.pid] = s
    if root not in by_pid:
        return []
    out, todo = [], [by_pid[root]]
    while todo:
        s = todo.pop()
        out.append(s)
        todo.extend(children.get(s.pid, ()))
    return out


@dataclass(frozen=True, slots=True)
class Sample:
    server_cpu_s: float
    server_rss_bytes: int
    pg_cpu_s: float
    pg_rss_bytes: int
    machine_busy_s: float  # all CPUs, everything but idle and iowait
    server_pids: dict[int, float]  # pid -> CPU seconds
    pg_pids: dict[int, float]


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> tuple[float, int]:
    """CPU spent between two samples, per process: (seconds, processes that exited).

    A process that started in between counts from zero; one that exited in
    between is missing from ``after`` and its last slice is unknown, so the
    count of such processes is returned to flag an undercount.
    """
    spent = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
    return spent, sum(1 for pid in before if pid not in after)


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    try:
        first = (PROC / "stat").read_text().split("\n", 1)[0].split()
    except FileNotFoundError:  # pragma: no cover
        return 0.0
    ticks = [int(v) for v in first[1:9]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK


def backend_database(pid: int) -> str | None:
    """The database of a PostgreSQL backend, from its process title."""
    try:
        title = (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    words = title.rpartition(": ")[2].split()
    # "<user> <database> <client>(<port>) <state>" for a client backend.
    if len(words) >= 3 and ("(" in words[2] or words[2] == "[local]"):
        return words[1]
    return None


def sample(server_pid: int | None, pg_database: str | None = None) -> Sample:
    stats = all_stats()
    server = tree(server_pid, stats) if server_pid else []
    server_pids = {s.pid for s in server}
    pg = [s for s in stats if s.comm == "postgres" and s.pid not in server_pids]
    if pg_database:
        pg = [s for s in pg if backend_database(s.pid) == pg_database]
    return Sample(
        server_cpu_s=sum(s.cpu_s for s in server),
        server_rss_bytes=sum(s.rss_bytes for s in server),
        pg_cpu_s=sum(s.cpu_s for s in pg),
        pg_rss_bytes=sum(s.rss_bytes for s in pg),
        machine_busy_s=machine_busy_s(),
        server_pids={s.pid: s.cpu_s for s in server},
        pg_pids={s.pid: s.cpu_s for s in pg},
    )


def listener_pid(port: int) -> int | None:
    """The pid of the process listening on TCP ``port`` (IPv4 or IPv6), if visible."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            parts = line.split()
            local, state, inode = parts[1], parts[3], parts[9]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{inode}]")
    if not inodes:
        return None
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    found.append(int(entry.name))
                    break
        except (PermissionError, FileNotFoundError, NotADirectoryError, ProcessLookupError):
            continue
    if not found:
        return None
    # Several processes share the socket (forked workers): take the topmost.
    pids = set(found)
    stats = {s.pid: s for s in all_stats() if s.pid in pids}
    for pid in found:
        if pid in stats and stats[pid].ppid not in pids:
            return pid
    return found[0]


def listen_overflows() -> int | None:
    """Machine-wide count of connection attempts dropped on a full listen queue.

    ``TcpExt ListenOverflows`` of /proc/net/netstat. A dropped SYN is retried
    by the client after 1 s, then 3 s, 7 s, …: during a connect storm a short
    accept backlog shows as a wall time in those steps, whatever the CPU.
    """
    try:
        lines = (PROC / "net" / "netstat").read_text().splitlines()
    except FileNotFoundError:  # pragma: no cover - not Linux
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            raw = table.get("ListenOverflows")
            return int(raw) if raw is not None else None
    return None
