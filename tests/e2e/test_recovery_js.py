"""Connection-state recovery with the official socket.io-client 4 (scripts/e2e_recovery.mjs).

The script connects "alice" with the web client's reconnection options through a TCP
proxy of its own, cuts her transport, has "bob" send 10 DMs meanwhile and checks that the
automatic reconnect recovers (``socket.recovered``), replays the 10 exactly once and in
order, then that a deliberate disconnect does not recover and a stolen pid restores
nothing. One server (in-process recovery store), then two servers sharing PostgreSQL and
Redis: the reconnect lands on the other node, then on the first one after the node the
client was on got SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_e2e_scripts import _node_problem, _stop
from tests.helpers import free_port, start_server

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "var" / "node" / "node_modules"
SCRIPT_TIMEOUT = 90.0
TEST_ENV = {"CHATR_TEST_MODE": "1", "RATE_LIMITS_ENABLED": "false", "BCRYPT_ROUNDS": "4"}


async def _run_script(backends: list[str], pids: list[int]) -> tuple[int, str]:
    runner = await asyncio.create_subprocess_exec(
        "node",
        str(ROOT / "scripts" / "e2e_recovery.mjs"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={
            **os.environ,
            "E2E_URL": backends[0],
            "NODE_MODULES_DIR": str(NODE_MODULES),
            "RECOVERY_BACKENDS": ",".join(backends),
            "RECOVERY_PIDS": ",".join(str(p) for p in pids),
        },
    )
    try:
        out, _ = await asyncio.wait_for(runner.communicate(), SCRIPT_TIMEOUT)
    except TimeoutError:
        runner.kill()
        out, _ = await runner.communicate()
        out += f"\n(killed after {SCRIPT_TIMEOUT} s)".encode()
    assert runner.returncode is not None
    return runner.returncode, out.decode(errors="replace")


async def _check(count: int, base_settings: Any, tmp_path: Path, env: dict[str, str]) -> None:
    problem = await asyncio.to_thread(_node_problem)
    if problem:
        pytest.skip(problem)
    ports = [free_port() for _ in range(count)]
    procs: list[Any] = []
    logs = []
    try:
        for n, port in enumerate(ports):
            folder = tmp_path / f"node{n}"
            folder.mkdir()
            log = (folder / "server.log").open("wb")
            logs.append((folder / "server.log", log))
            procs.append(await start_server(base_settings, port, folder, env, log))
        code, output = await _run_script(
            [f"http://127.0.0.1:{port}" for port in ports], [p.pid for p in procs]
        )
    finally:
        for proc in procs:
            await _stop(proc)
        for _path, log in logs:
            log.close()
    tails = "\n".join(
        f"--- {path} (tail) ---\n{path.read_text(errors='replace')[-2000:]}" for path, _ in logs
    )
    assert code == 0, f"{output}\n{tails}"
    assert "# e2e_recovery: " in output, output
    assert "not ok" not in output, output


async def test_recovery_one_node_in_process_store(base_settings, tmp_path):
    await _check(1, base_settings, tmp_path, TEST_ENV)


async def test_recovery_across_nodes_and_after_sigkill(base_settings, redis_url, tmp_path):
    if redis_url is None:
        pytest.skip("needs Redis")
    env = {**TEST_ENV, "REDIS_URL": redis_url, "REDIS_PREFIX": base_settings.redis_prefix}
    await _check(2, base_settings, tmp_path, env)
