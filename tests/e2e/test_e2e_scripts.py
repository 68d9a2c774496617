"""The scripted e2e sessions (official socket.io-client 4 in Node) against a real server.

Starts ``python -m chatr_server serve`` as a subprocess on a free port against the test
database (test mode on), then runs ``scripts/e2e_run.sh --url …``, which runs
``scripts/e2e_two_users.mjs`` and ``scripts/e2e_social_session.mjs``. Skipped when
Node.js/npm are missing or socket.io-client cannot be installed into var/node.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import free_port, start_server

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "var" / "node"
SCRIPTS_TIMEOUT = 45.0


def _node_problem() -> str | None:
    """Why the scripts cannot run here, or None. Installs socket.io-client when missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return "node/npm not found: the e2e scripts need Node.js >= 18 with npm"
    version = subprocess.run(
        [node, "-p", "process.versions.node"], capture_output=True, text=True, timeout=10
    ).stdout.strip()
    if not version or int(version.split(".")[0]) < 18:
        return f"node {version or '?'} is too old: the e2e scripts need Node.js >= 18"
    if not (NODE_DIR / "node_modules" / "socket.io-client").is_dir():
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        try:
            done = subprocess.run(
                [
                    npm,
                    "install",
                    "--silent",
                    "--no-audit",
                    "--no-fund",
                    "--prefix",
                    str(NODE_DIR),
                    "socket.io-client@^4",
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
        except subprocess.TimeoutExpired:
            return "npm install socket.io-client@4 timed out (offline?)"
        if done.returncode != 0:
            return f"npm install socket.io-client@4 failed (offline?): {done.stderr.strip()[-300:]}"
    return None


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def test_e2e_scripts_with_the_official_js_client(base_settings, tmp_path):
    problem = await asyncio.to_thread(_node_problem)
    if problem:
        pytest.skip(problem)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        server = await start_server(
            base_settings,
            port,
            tmp_path,
            {"CHATR_TEST_MODE": "1", "RATE_LIMITS_ENABLED": "false", "BCRYPT_ROUNDS": "4"},
            log,
        )
        try:
            runner = await asyncio.create_subprocess_exec(
                "bash",
                str(ROOT / "scripts" / "e2e_run.sh"),
                "--url",
                url,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHON": sys.executable},
            )
            try:
                out, _ = await asyncio.wait_for(runner.communicate(), SCRIPTS_TIMEOUT)
            except TimeoutError:
                runner.kill()
                out, _ = await runner.communicate()
                out += f"\n(killed after {SCRIPTS_TIMEOUT} s)".encode()
        finally:
            await _stop(server)
    output = out.decode(errors="replace")
    server_log = log_path.read_text(errors="replace")[-3000:]
    assert runner.returncode == 0, f"{output}\n--- server log (tail) ---\n{server_log}"
    assert "# e2e_two_users: " in output, output
    assert "# e2e_social_session: " in output, output
    assert "not ok" not in output, output
