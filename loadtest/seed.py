"""Users for a load test: through the REST API (test mode) or straight into SQL.

REST (the default, works against any deployment in test mode): register then
log in with the bypass code ``000000``; the server must run with
``CHATR_TEST_MODE=1`` and, for many users, ``RATE_LIMITS_ENABLED=false`` (and
a low ``BCRYPT_ROUNDS`` makes it quicker). Conversations are then accepted
over the sockets themselves (see ``worker.prime``).

SQL (``--seed-sql DSN --jwt-secret S``): users, accepted friendships and
accepted conversations are inserted directly with COPY and the tokens are
signed here (HS256, the same claims as the server issues), so thousands of
users take a second and any server that accepts those tokens can be tested.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

PASSWORD = "Loadtest!Pass1"


@dataclass(slots=True)
class User:
    id: str
    username: str
    token: str

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "username": self.username, "token": self.token}


async def run_statements(dsn: str, *statements: str) -> None:
    """Run maintenance statements (CREATE/DROP DATABASE, ALTER …) one by one."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def ring_pairs(n: int, partners: int) -> list[tuple[int, int]]:
    """Each user talks to ``partners`` neighbours on a ring (i±1, i±2, …)."""
    pairs: set[tuple[int, int]] = set()
    for k in range(1, max(1, partners // 2) + 1):
        for i in range(n):
            j = (i + k) % n
            if i != j:
                pairs.add((min(i, j), max(i, j)))
    return sorted(pairs)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def sign_token(secret: str, user_id: str, username: str, lifetime_s: int = 7 * 86400) -> str:
    """An HS256 JWT with the claims chatr_server issues (userId, username, iat, exp)."""
    now = int(time.time())
    header = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
    claims = {"userId": user_id, "username": username, "iat": now, "exp": now + lifetime_s}
    body = _b64(orjson.dumps(claims))
    sig = hmac.new(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(sig)}"


def _password_hash() -> str:
    try:
        import bcrypt

        return bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    except ImportError:  # pragma: no cover - bcrypt ships with chatr_server
        return "$2b$04$" + "x" * 53


async def seed_sql(
    dsn: str, secret: str, n: int, run_id: str, pairs: list[tuple[int, int]]
) -> list[User]:
    import asyncpg

    ids = [uuid.uuid4() for _ in range(n)]
    names = [f"@lt_{run_id}_{i}" for i in range(n)]
    pw = _password_hash()
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.copy_records_to_table(
                "users",
                columns=[
                    "id",
                    "username",
                    "email",
                    "password_hash",
                    "display_name",
                    "first_name",
                    "last_name",
                    "email_verified",
                ],
                records=[
                    (
                        uid,
                        name,
                        f"lt_{run_id}_{i}@example.com",
                        pw,
                        f"Load {i}",
                        "Load",
                        str(i),
                        True,
                    )
                    for i, (uid, name) in enumerate(zip(ids, names, strict=True))
                ],
            )
            await conn.copy_records_to_table(
                "friendships",
                columns=["requester_id", "addressee_id", "status"],
                records=[(ids[a], ids[b], "accepted") for a, b in pairs],
            )
            convs = []
            for a, b in pairs:
                lo, hi = sorted((ids[a], ids[b]), key=str)
                convs.append((lo, hi, ids[a], "accepted"))
            await conn.copy_records_to_table(
                "conversations",
                columns=["participant_a", "participant_b", "initiator_id", "status"],
                records=convs,
            )
    finally:
        await conn.close()
    return [
        User(str(uid), name, sign_token(secret, str(uid), name))
        for uid, name in zip(ids, names, strict=True)
    ]


async def seed_rest(
    base_url: str, n: int, run_id: str, concurrency: int = 16, limit_s: float = 30.0
) -> list[User]:
    """Register and log in ``n`` users through the API (test-mode bypass code)."""
    sem = asyncio.Semaphore(concurrency)
    out: list[User | None] = [None] * n
    base = base_url.rstrip("/")

    async def one(http: aiohttp.ClientSession, i: int) -> None:
        name = f"lt_{run_id}_{i}"
        email = f"{name}@example.com"
        async with sem:
            body = {
                "email": email,
                "username": name,
                "password": PASSWORD,
                "firstName": "Load",
                "lastName": str(i),
            }
            async with http.post(f"{base}/api/auth/register", json=body) as resp:
                if resp.status != 201:
                    raise RuntimeError(f"register {name}: HTTP {resp.status} {await resp.text()}")
            login = {"email": email, "password": PASSWORD, "loginVerificationCode": "000000"}
            async with http.post(f"{base}/api/auth/login", json=login) as resp:
                data: dict[str, Any] = await resp.json()
                if resp.status != 200 or "token" not in data:
                    raise RuntimeError(
                        f"login {name}: HTTP {resp.status} {data} "
                        "(is the server in test mode, CHATR_TEST_MODE=1?)"
                    )
            out[i] = User(data["user"]["id"], data["user"]["username"], data["token"])

    client_timeout = aiohttp.ClientTimeout(total=limit_s)
    async with aiohttp.ClientSession(timeout=client_timeout) as http:
        await asyncio.gather(*(one(http, i) for i in range(n)))
    return [u for u in out if u is not None]
