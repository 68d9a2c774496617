"""``--workers N``: N single-process servers sharing one public port (docs/scaling.md).

The parent binds nothing and serves nothing: it starts N copies of the same command as
child processes, each binding the public port with ``SO_REUSEPORT`` (the kernel spreads
new connections over them) plus a private "internal" listener that the other workers
and nodes use to forward requests of the sessions it owns. The parent restarts a worker
that dies, forwards SIGINT/SIGTERM to all of them and waits for their graceful exit.

Why not a front proxy in the parent: every byte of every connection would cross one more
Python process (measured in docs/scaling.md), and that process would be the bottleneck
the workers are meant to remove. With SO_REUSEPORT only polling requests and websocket
upgrades that land on a non-owner pay a hop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Final

log = logging.getLogger("chatr_server.workers")

#: Environment variable telling a child which worker it is (0-based).
WORKER_INDEX_ENV: Final = "CHATR_WORKER_INDEX"
#: Environment variable naming the workers' private handover directory.
HANDOFF_DIR_ENV: Final = "CHATR_HANDOFF_DIR"
# A worker that dies sooner than this after starting counts as a failed start; after
# MAX_FAST_FAILURES in a row the supervisor gives up instead of spinning.
_FAST_FAILURE_S: Final = 5.0
MAX_FAST_FAILURES: Final = 5
# Pause between restarts of a crashed worker (also spaces out crash loops).
_RESTART_DELAY_S: Final = 1.0
# How long the parent waits for workers to finish after forwarding a stop signal, by
# default; ``serve`` passes SHUTDOWN_TIMEOUT_SECONDS plus a margin (the workers' drain).
_STOP_GRACE_S: Final = 20.0
_POLL_S: Final = 0.2


def bind_internal(host: str, port: int) -> socket.socket:
    """A listening TCP socket for the internal (forwarding) listener; port 0 = any."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def internal_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: a worker gets SIGTERM if the supervisor dies (even by SIGKILL)."""
    with contextlib.suppress(Exception):
        import ctypes

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)


def supervise(
    command: Callable[[int], Sequence[str]],
    workers: int,
    ready: Callable[[], bool] | None = None,
    on_ready: Callable[[], None] | None = None,
    stop_grace: float = _STOP_GRACE_S,
    on_exit: Callable[[int], None] | None = None,
) -> int:
    """Run ``command(index)`` for each worker until stopped; returns the exit status.

    ``on_ready()`` runs once, as soon as ``ready()`` is true (e.g. every worker listens).
    On SIGTERM/SIGINT every worker gets SIGTERM and drains; the status is 0 when all of
    them exit 0 within ``stop_grace`` seconds. A second signal is forwarded too (a
    worker then ends its grace period early).
    ``on_exit(pid)`` runs for a worker that exited on its own (before its restart).
    """
    stopping = False
    forwarded = False
    announced = ready is None
    procs: list[tuple[subprocess.Popen[bytes], float]] = []

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        if forwarded:
            for proc, _ in procs:
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(signal.SIGTERM)
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def spawn(index: int) -> tuple[subprocess.Popen[bytes], float]:
        env = {**os.environ, WORKER_INDEX_ENV: str(index)}
        # Children ignore the terminal's SIGINT (own process group); the parent forwards.
        proc = subprocess.Popen(
            [sys.executable, *command(index)],
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        log.info("worker %d started (pid %d)", index, proc.pid)
        return proc, time.monotonic()

    # Private to this deployment (mode 0700): workers hand websocket connections to each
    # other through unix sockets in it (see realtime/cluster.py).
    handoff_dir = tempfile.mkdtemp(prefix="chatr-workers-")
    os.environ[HANDOFF_DIR_ENV] = handoff_dir
    procs.extend(spawn(i) for i in range(workers))
    fast_failures = 0
    status = 0
    try:
        while not stopping:
            time.sleep(_POLL_S)
            if not announced and ready is not None and ready():
                announced = True
                if on_ready is not None:
                    on_ready()
            for index, (proc, started) in enumerate(procs):
                code = proc.poll()
                if code is None or stopping:
                    continue
                log.error("worker %d (pid %d) exited with %s", index, proc.pid, code)
                if on_exit is not None:
                    on_exit(proc.pid)
                fast = time.monotonic() - started < _FAST_FAILURE_S
                fast_failures = fast_failures + 1 if fast else 0
                if fast_failures >= MAX_FAST_FAILURES:
                    log.error("workers keep failing at start-up, giving up")
                    status = 1
                    stopping = True
                    break
                time.sleep(_RESTART_DELAY_S)
                procs[index] = spawn(index)
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        forwarded = True
        deadline = time.monotonic() + stop_grace
        for index, (proc, _) in enumerate(procs):
            try:
                code = proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker %d (pid %d) did not drain in time: killed", index, proc.pid)
                proc.kill()
                proc.wait()
                status = 1
            else:
                if code != 0:
                    log.error("worker %d (pid %d) exited with %s", index, proc.pid, code)
                    status = 1
        shutil.rmtree(handoff_dir, ignore_errors=True)
    return status
