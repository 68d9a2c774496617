"""``python -m chatr_server serve`` as a real subprocess, with its log kept for the test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from chatr_server.settings import Settings
from tests.helpers import REPO_ROOT, free_port

# Generous bounds for a loaded CI machine; every wait ends as soon as its event happens.
STARTUP_LIMIT_S = 60.0
LOG_LIMIT_S = 30.0


class Served:
    """One ``serve`` process: its URL, its log file and helpers to wait on both."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int, log_path: Path) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_log(self, pattern: str, limit_s: float = LOG_LIMIT_S) -> re.Match[str]:
        """The first match of ``pattern`` in the log, once it has been written."""
        regex = re.compile(pattern)
        async with asyncio.timeout(limit_s):
            while True:
                found = regex.search(self.log())
                if found:
                    return found
                if self.proc.returncode is not None:
                    raise AssertionError(f"server exited before {pattern!r}:\n{self.log()}")
                await asyncio.sleep(0.02)

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.proc.send_signal(signum)

    async def exit_code(self, limit_s: float) -> int:
        async with asyncio.timeout(limit_s):
            return await self.proc.wait()


def serve_env(settings: Settings, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "JWT_SECRET": settings.jwt_secret,
        "HOST": "127.0.0.1",
        "CHATR_DATA_DIR": str(tmp_path / "var"),
        "UPLOADS_DIR": str(tmp_path / "uploads"),
        "CHATR_TEST_MODE": "1",
        "RATE_LIMITS_ENABLED": "false",
        "BCRYPT_ROUNDS": "4",
        "LOG_LEVEL": "INFO",
    }
    for name in ("REDIS_URL", "NODE_ENV", "CHATR_ENV", "WEB_WORKERS", "PORT"):
        env.pop(name, None)
    env.update(extra)
    return env


@pytest_asyncio.fixture
async def serve(base_settings: Settings, tmp_path: Path) -> AsyncIterator[Any]:
    """``await serve(*args, **env)`` → a :class:`Served` listening (its listening line seen)."""
    started: list[Served] = []

    async def start(*args: str, wait: bool = True, **extra: str) -> Served:
        port = int(extra.pop("PORT", 0)) or free_port()
        log_path = tmp_path / f"serve-{port}.log"
        with log_path.open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "chatr_server",
                "serve",
                "--port",
                str(port),
                *args,
                env=serve_env(base_settings, tmp_path, **extra),
                cwd=REPO_ROOT,
                stdout=log,
                stderr=log,
            )
        served = Served(proc, port, log_path)
        started.append(served)
        if wait:
            await served.wait_log(r"listening on http://", STARTUP_LIMIT_S)
        return served

    yield start
    for served in started:
        if served.proc.returncode is None:
            served.proc.kill()
        with contextlib.suppress(ProcessLookupError):
            await served.proc.wait()
