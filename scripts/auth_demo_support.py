"""Shared harness of the auth demo scripts: the real app plus loopback mail and SMS peers.

:class:`DemoServer` creates a throw-away PostgreSQL database, starts an SMTP
server (aiosmtpd) and a Twilio stand-in on loopback, serves the app from
``create_app`` on a free port and talks to it over real HTTP. Everything is
removed again on exit (database dropped, Redis keys deleted).

Environment: ``DEMO_PG_DSN`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``)
and ``DEMO_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``; the in-process
store is used when it does not answer).
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import shutil
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# Run the code of this checkout, whatever the virtualenv has installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from chatr_server.app import create_app
from chatr_server.settings import Settings

CODE_RE = re.compile(r"\b(\d{6})\b")
PASSWORD = "Demo!Pass123"
TWILIO_SID = "AC" + "d3" * 16


class DemoFailure(Exception):
    """A step did not get the answer the contract promises."""


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise DemoFailure(what)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unique_phone() -> str:
    return "+4477009" + f"{secrets.randbelow(100_000):05d}"


@dataclass
class MailSink:
    """aiosmtpd handler keeping every message it accepts."""

    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class DemoServer:
    """``async with DemoServer(...) as demo``: app, SMTP and Twilio up; torn down after."""

    def __init__(self, *, rate_limits: bool = True) -> None:
        self.pg_dsn = os.environ.get("DEMO_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
        self.redis_url = os.environ.get("DEMO_REDIS_URL", "redis://127.0.0.1:6379/0")
        self.rate_limits = rate_limits
        self.mail = MailSink()
        self.sms: list[dict[str, str]] = []
        self.db_name = f"chatr_demo_{secrets.token_hex(5)}"
        self.db_dsn = ""
        self.redis_prefix = f"chatr-demo-{secrets.token_hex(5)}:"
        self._tmp = Path(tempfile.mkdtemp(prefix="chatr-demo-"))
        self._cleanups: list[Any] = []
        self.base_url = ""
        self.http: aiohttp.ClientSession | None = None

    # ---- lifecycle --------------------------------------------------------

    async def __aenter__(self) -> DemoServer:
        try:
            await self._start()
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stop()

    async def _start(self) -> None:
        admin = await asyncpg.connect(self.pg_dsn, timeout=5)
        try:
            await admin.execute(f'CREATE DATABASE "{self.db_name}"')
        finally:
            await admin.close()
        self._cleanups.append(self._drop_database)
        self.db_dsn = urlunsplit(urlsplit(self.pg_dsn)._replace(path="/" + self.db_name))

        from aiosmtpd.controller import Controller

        smtp_port = free_port()
        controller = Controller(self.mail, hostname="127.0.0.1", port=smtp_port)
        controller.start()
        self._cleanups.append(controller.stop)

        twilio_url = await self._start_twilio()
        redis_url = self.redis_url if await self._redis_answers() else None
        if redis_url:
            self._cleanups.append(self._clear_redis)

        settings = Settings(
            database_url=self.db_dsn,
            database_pool_size=4,
            redis_url=redis_url,
            redis_prefix=self.redis_prefix,
            jwt_secret=secrets.token_urlsafe(48),
            bcrypt_rounds=4,
            data_dir=self._tmp / "var",
            uploads_dir=self._tmp / "uploads",
            frontend_url="https://chatr.example",
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            smtp_starttls=False,
            twilio_account_sid=TWILIO_SID,
            twilio_auth_token="demo-token",
            twilio_from_number="+447700900000",
            twilio_api_base=twilio_url,
            test_mode_allowed=False,
            rate_limits_enabled=self.rate_limits,
        )
        runner = web.AppRunner(create_app(settings), access_log=None)
        await runner.setup()
        self._cleanups.append(runner.cleanup)
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        self.base_url = f"http://127.0.0.1:{port}"
        self.http = aiohttp.ClientSession(self.base_url)
        self._cleanups.append(self.http.close)
        print(
            f"   server {self.base_url}  database {self.db_name}  "
            f"store {'redis' if redis_url else 'in-process'}  smtp 127.0.0.1:{smtp_port}  "
            f"twilio {twilio_url}"
        )

    async def _stop(self) -> None:
        for cleanup in reversed(self._cleanups):
            try:
                result = cleanup()
                if hasattr(result, "__await__"):
                    await result
            except Exception as exc:  # keep tearing down the rest
                print(f"   (cleanup: {type(exc).__name__}: {exc})", file=sys.stderr)
        self._cleanups.clear()
        shutil.rmtree(self._tmp, ignore_errors=True)

    async def _drop_database(self) -> None:
        admin = await asyncpg.connect(self.pg_dsn, timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        finally:
            await admin.close()

    async def _redis_answers(self) -> bool:
        client = Redis.from_url(self.redis_url, socket_connect_timeout=2)
        try:
            return bool(await client.ping())
        except Exception:
            return False
        finally:
            await client.aclose()

    async def _clear_redis(self) -> None:
        client = Redis.from_url(self.redis_url)
        try:
            async for key in client.scan_iter(match=self.redis_prefix + "*", count=500):
                await client.delete(key)
        finally:
            await client.aclose()

    async def _start_twilio(self) -> str:
        async def create_message(request: web.Request) -> web.Response:
            form = await request.post()
            auth = request.headers.get("Authorization", "")
            user = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")[0]
            if user != TWILIO_SID:
                return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
            record = {"to": str(form.get("To")), "body": str(form.get("Body"))}
            self.sms.append(record)
            return web.json_response(
                {"sid": "SM" + secrets.token_hex(16), "status": "queued", **record}, status=201
            )

        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", create_message)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._cleanups.append(runner.cleanup)
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return f"http://127.0.0.1:{port}"

    # ---- talking to the app -----------------------------------------------

    async def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> Reply:
        assert self.http is not None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(method, path, json=body, headers=headers) as resp:
            try:
                data: Any = await resp.json(content_type=None)
            except ValueError:
                data = await resp.text()
            return Reply(resp.status, data, dict(resp.headers))

    async def post(self, path: str, body: dict[str, Any] | None = None, **kw: Any) -> Reply:
        return await self.call("POST", path, body, **kw)

    async def register(self, name: str, *, phone: str | None = None) -> tuple[str, str]:
        """Register ``name``; returns (user id, email)."""
        email = f"{name}@example.com"
        body = {
            "email": email,
            "username": name,
            "password": PASSWORD,
            "firstName": "Demo",
            "lastName": "User",
        }
        if phone:
            body["phoneNumber"] = phone
        reply = await self.post("/api/auth/register", body)
        expect(reply.status == 201, f"register answered {reply.status} {reply.body}")
        return reply.body["userId"], email

    # ---- what the peers received --------------------------------------------

    def last_email(self, to: str) -> EmailMessage:
        for rcpts, message in reversed(self.mail.messages):
            if to in rcpts:
                return message
        raise DemoFailure(f"no email reached the SMTP server for {to}")

    def email_code(self, to: str) -> tuple[str, str]:
        """(subject, code) of the newest email to ``to``."""
        message = self.last_email(to)
        part = message.get_body(preferencelist=("plain",))
        text = part.get_content() if part is not None else ""
        match = CODE_RE.search(text)
        expect(match is not None, "the email carries no 6-digit code")
        assert match is not None
        return str(message["Subject"]), match.group(1)

    def sms_code(self, number: str) -> str:
        bodies = [m["body"] for m in self.sms if m["to"] == number]
        expect(bool(bodies), f"no SMS reached the Twilio stand-in for {number}")
        match = CODE_RE.search(bodies[-1])
        expect(match is not None, "the SMS carries no 6-digit code")
        assert match is not None
        return match.group(1)

    async def expire_code(self, user_id: str, purpose: str) -> None:
        """Age a stored code past its expiry (no route can do that)."""
        conn = await asyncpg.connect(self.db_dsn)
        try:
            await conn.execute(
                "UPDATE verification_codes SET expires_at = now() - interval '1 minute' "
                "WHERE user_id = $1 AND purpose = $2",
                user_id,
                purpose,
            )
        finally:
            await conn.close()


class Steps:
    """Numbered step printer."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, title: str, detail: str = "") -> None:
        self.n += 1
        line = f"[{self.n:2d}] {title}"
        if detail:
            line += f"\n       {detail}"
        print(line, flush=True)
