"""Small helpers that drive the API the way the web client does."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from chatr_server.appkeys import SERVICES
from chatr_server.services.bus import EventBus
from tests.oracle import event_mismatches

REPO_ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Secret!Pass1"


def unique_username(prefix: str = "u") -> str:
    return f"{prefix}_{secrets.token_hex(5)}"


@dataclass
class TestUser:
    __test__ = False
    id: str
    username: str
    email: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def register(client: Any, **overrides: Any) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """POST /api/auth/register; returns (status, body, the request body sent)."""
    name = unique_username()
    body = {
        "email": f"{name}@example.com",
        "username": name,
        "password": PASSWORD,
        "firstName": "Test",
        "lastName": "User",
    }
    body.update(overrides)
    body = {k: v for k, v in body.items() if v is not ...}
    resp = await client.post("/api/auth/register", json=body)
    return resp.status, await resp.json(), body


async def make_user(client: Any, **overrides: Any) -> TestUser:
    """Register and log in with the test-mode bypass code."""
    status, data, sent = await register(client, **overrides)
    assert status == 201, data
    resp = await client.post(
        "/api/auth/login",
        json={
            "email": sent["email"],
            "password": sent["password"],
            "loginVerificationCode": "000000",
        },
    )
    login = await resp.json()
    assert resp.status == 200, login
    return TestUser(login["user"]["id"], login["user"]["username"], sent["email"], login["token"])


async def verified_user(client: Any, **overrides: Any) -> TestUser:
    """``make_user`` logs in with the test bypass, which skips verification; finish it.

    (Search and the directory only list verified users.)
    """
    user = await make_user(client, **overrides)
    pool = client.server.app[SERVICES].pool
    await pool.execute("UPDATE users SET email_verified = true WHERE id = $1", user.id)
    return user


@dataclass
class RecordingBus:
    """An EventBus that remembers every (user, event, payload) services emit.

    Every test app wraps its one bus with it (``create_app(wrap_bus=...)`` in the
    ``make_client`` fixture), before any service is built: it sees the events of
    every service, and the real bus still delivers them to the sockets.
    """

    sent: list[tuple[str, str, Any]] = field(default_factory=list)
    #: Room commands (group room leaves, token disconnects), apart from the emissions.
    room_ops: list[tuple[str, str, list[str] | None]] = field(default_factory=list)
    #: Where payloads off their event schema are reported (the test fails on any).
    violations: list[str] = field(default_factory=list)

    def to_user(self, user_id: str, event: str, payload: Any) -> None:
        self.violations.extend(event_mismatches(event, payload))
        self.sent.append((str(user_id), event, payload))

    def to_users(self, user_ids: Iterable[str], event: str, payload: Any) -> None:
        for user_id in user_ids:
            self.to_user(user_id, event, payload)

    async def is_online(self, user_id: str) -> bool:
        return False

    def leave_group_room(self, group_id: str, user_ids: Iterable[str] | None = None) -> None:
        self.room_ops.append(("leave", group_id, None if user_ids is None else list(user_ids)))

    def disconnect_token(self, token_hash: str) -> None:
        self.room_ops.append(("disconnect", token_hash, None))

    def wrap(self, inner: EventBus) -> EventBus:
        """A bus that records here, then hands everything on to ``inner``."""
        return _TeeBus(self, inner)

    def clear(self) -> None:
        self.sent.clear()
        self.room_ops.clear()

    def events(self, name: str) -> list[tuple[str, Any]]:
        """``(user, payload)`` of every emission of event ``name``, in order."""
        return [(user, payload) for user, event, payload in self.sent if event == name]

    def recipients(self, name: str) -> set[str]:
        return {user for user, _ in self.events(name)}

    def names(self) -> list[str]:
        return [event for _, event, _ in self.sent]


class _TeeBus:
    """The recording in front of an app's real bus."""

    def __init__(self, recorder: RecordingBus, inner: EventBus) -> None:
        self._recorder = recorder
        self._inner = inner

    def to_user(self, user_id: str, event: str, payload: Any) -> None:
        self._recorder.to_user(user_id, event, payload)
        self._inner.to_user(user_id, event, payload)

    def to_users(self, user_ids: Iterable[str], event: str, payload: Any) -> None:
        user_ids = list(user_ids)
        self._recorder.to_users(user_ids, event, payload)
        self._inner.to_users(user_ids, event, payload)

    async def is_online(self, user_id: str) -> bool:
        return await self._inner.is_online(user_id)

    def leave_group_room(self, group_id: str, user_ids: Iterable[str] | None = None) -> None:
        user_ids = None if user_ids is None else list(user_ids)
        self._recorder.leave_group_room(group_id, user_ids)
        self._inner.leave_group_room(group_id, user_ids)

    def disconnect_token(self, token_hash: str) -> None:
        self._recorder.disconnect_token(token_hash)
        self._inner.disconnect_token(token_hash)


async def until(condition: Callable[[], Awaitable[bool] | bool], timeout: float = 20.0) -> None:
    """Poll ``condition`` (sync or async) until true; TimeoutError after ``timeout`` seconds.

    For state with no event to wait on (a process came up, a dependency came back);
    never for "nothing happened", which needs a barrier (see ``tests.live.settle``)."""
    import asyncio

    async with asyncio.timeout(timeout):
        while True:
            result = condition()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            await asyncio.sleep(0.01)


def dm_args(
    sender_id: str,
    recipient_id: str,
    content: str,
    temp_id: str | None,
    *,
    online: bool = False,
    reply_to: Any = None,
) -> tuple[Any, ...]:
    """A plain text ``chatr_send_dm`` argument tuple (migration 0006 gives the order)."""
    files = (None,) * 7  # file url, name, size, type, waveform, duration, link preview
    return (sender_id, recipient_id, content, "text", *files, reply_to, temp_id, None, online)


def database_dsn(server_dsn: str, name: str) -> str:
    """The DSN of database ``name`` on the server of ``server_dsn``."""
    query = ""
    if "?" in server_dsn and "host=" in server_dsn:
        # Unix-socket URL (embedded server): the database name goes in the path.
        server_dsn, query = server_dsn.split("?", 1)
        query = "?" + query
    return urlunsplit(urlsplit(server_dsn)._replace(path="/" + name)) + query


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def start_server(
    settings: Any,
    port: int,
    tmp_path: Any,
    extra_env: dict[str, str] | None = None,
    log: Any = None,
) -> Any:
    """``python -m chatr_server serve`` as a real subprocess on the test database.

    Returns the asyncio process once ``/api/health`` answers; in-process presence
    (no Redis) unless ``extra_env`` says otherwise.
    """
    import asyncio
    import os
    import sys

    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "JWT_SECRET": settings.jwt_secret,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "CHATR_DATA_DIR": str(tmp_path / "var"),
        "UPLOADS_DIR": str(tmp_path / "uploads"),
        "LOG_LEVEL": "WARNING",
    }
    for name in ("REDIS_URL", "NODE_ENV", "CHATR_ENV"):
        env.pop(name, None)
    env.update(extra_env or {})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatr_server",
        "serve",
        env=env,
        cwd=REPO_ROOT,
        stdout=log,
        stderr=None if log is None else asyncio.subprocess.STDOUT,
    )
    await wait_until_serving(proc, port)
    return proc


async def wait_until_serving(proc: Any, port: int) -> None:
    """Return once ``/api/health`` on ``port`` answers 200; kill and raise if it never does."""
    import asyncio

    import aiohttp

    async with aiohttp.ClientSession() as http:
        for _ in range(400):
            try:
                async with http.get(f"http://127.0.0.1:{port}/api/health") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if proc.returncode is not None:
                break
            await asyncio.sleep(0.05)
    if proc.returncode is None:
        proc.kill()
    await proc.wait()
    raise RuntimeError("server did not start")
