"""OpenAPI-driven fuzzing: every documented operation, with generated input.

Schemathesis generates requests from the served OpenAPI document (valid and
invalid ones) and checks two properties of every answer: it is not a server
error, and its status is one the operation documents. Runs are seeded and
bounded (a few examples per operation) so they are reproducible and cheap.

aiohttp is neither ASGI nor WSGI and schemathesis calls are synchronous, so the
real app runs on a loopback port in a thread with its own event loop, against
its own database (generated users, groups and messages stay out of the
database the other tests share).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import status_code_conformance

from chatr_server.api.openapi import build_spec
from chatr_server.api.routes import setup_routes
from chatr_server.app import create_app
from chatr_server.settings import Settings
from tests.helpers import PASSWORD, database_dsn, unique_username

SEED = 20240612
EXAMPLES_PER_OPERATION = 4

# Operations left out, each for the reason given: they would end the fuzzing
# session or reset data under the run, so what follows would test something else.
EXCLUDED: dict[tuple[str, str], str] = {
    ("POST", "/api/auth/logout"): "revokes the token every other request uses",
    ("POST", "/api/test/mode"): "switching test mode off turns rate limits and bypass codes on",
    ("POST", "/api/test/cleanup"): "deletes the caller's e2e messages and groups",
    ("POST", "/api/test/cleanup-all"): "deletes every e2e user's data",
    ("POST", "/api/test/restore-images"): "resets profile images",
    ("DELETE", "/api/test/user/{userId}"): "deletes accounts",
}


def _spec() -> dict[str, Any]:
    """The spec from the route table alone (no settings or resources needed).

    ``test_served_spec_is_the_one_fuzzed`` checks the running server serves
    the same document.
    """
    app = web.Application()
    setup_routes(app)
    return build_spec(app)


def _config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "generation": {
                "max-examples": EXAMPLES_PER_OPERATION,
                "deterministic": True,
                # NUL characters included: text PostgreSQL cannot store is a 400.
                "allow-x00": True,
            },
            "phases": {
                # Coverage (deterministic: each parameter missing, of the wrong type, at
                # its bounds; undeclared methods) and fuzzing (seeded values, valid and
                # invalid) run: about 1,800 requests, 10-20 s. The stateful phase, which
                # chains operations through links the spec does not declare, does not.
                "coverage": {"enabled": True},
                "stateful": {"enabled": False},
            },
        }
    )


# In the pass on real resources, also left out: what removes the group the later
# operations act on (operations run in path order, so it would go first).
EXCLUDED_ON_REAL: dict[tuple[str, str], str] = {
    ("DELETE", "/api/groups/{id}"): "deletes the group",
    ("POST", "/api/groups/{id}/leave"): "the owner leaving hands on or deletes the group",
}


def _schema(excluded: dict[tuple[str, str], str]) -> Any:
    loaded = schemathesis.openapi.from_dict(_spec(), config=_config())
    for method, path in excluded:
        loaded = loaded.exclude(method=method, path=path)
    return loaded


schema = _schema(EXCLUDED)
schema_on_real = _schema(EXCLUDED | EXCLUDED_ON_REAL)


@dataclass
class FuzzServer:
    """The real app on 127.0.0.1, served from a thread with its own event loop."""

    settings: Settings
    admin_dsn: str
    database: str
    base_url: str = ""
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None

    def start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # handed to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="fuzz-server", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]

    def stop(self) -> None:
        assert self._loop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()

    async def _serve(self) -> None:
        admin = await asyncpg.connect(self.admin_dsn)
        try:
            await admin.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            await admin.close()
        # The app migrates its empty database at start-up.
        self._runner = web.AppRunner(create_app(self.settings))
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        admin = await asyncpg.connect(self.admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="module")
def fuzz_server(base_settings: Settings, pg_server_dsn: str) -> Iterator[FuzzServer]:
    name = f"chatr_fuzz_{secrets.token_hex(6)}"
    settings = replace(
        base_settings,
        database_url=database_dsn(pg_server_dsn, name),
        redis_prefix=f"{base_settings.redis_prefix}fuzz:",
    )
    server = FuzzServer(settings, pg_server_dsn, name)
    server.start()
    yield server
    server.stop()


@dataclass(frozen=True)
class Account:
    id: str
    username: str
    token: str


def _account(base_url: str) -> Account:
    """A fresh user, logged in (test mode: the login code is bypassed)."""
    name = unique_username("fuzz")
    email = f"{name}@example.com"
    registered = requests.post(
        f"{base_url}/api/auth/register",
        json={
            "email": email,
            "username": name,
            "password": PASSWORD,
            "firstName": "Fuzz",
            "lastName": "User",
        },
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    login = requests.post(
        f"{base_url}/api/auth/login",
        json={"email": email, "password": PASSWORD, "loginVerificationCode": "000000"},
        timeout=30,
    )
    assert login.status_code == 200, login.text
    user = login.json()
    return Account(user["user"]["id"], user["user"]["username"], user["token"])


async def _make_support_agent(dsn: str, user_id: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "UPDATE users SET is_support = true, email_verified = true WHERE id = $1", user_id
        )
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def fuzzer(fuzz_server: FuzzServer) -> Account:
    """The user every generated request is made as.

    A support agent exists beside it, so the widget's routes reach their real work
    instead of the contract's 503 "Support is currently unavailable".
    """
    agent = _account(fuzz_server.base_url)
    asyncio.run(_make_support_agent(fuzz_server.settings.database_url or "", agent.id))
    return _account(fuzz_server.base_url)


@pytest.fixture(scope="module")
def fuzz_headers(fuzzer: Account) -> dict[str, str]:
    return {"Authorization": f"Bearer {fuzzer.token}"}


@pytest.fixture(scope="module")
def real_ids(fuzz_server: FuzzServer, fuzzer: Account, fuzz_headers: dict[str, str]) -> Any:
    """Path values naming real resources of the fuzzer's: another user, a group they
    own with that user in it, a friend request to them and a DM file to them.

    Random ids mostly reach the "not found" branch; these reach the code behind it.
    Returns a function from an operation's path to the values to use in it.
    """
    base = fuzz_server.base_url
    other = _account(base)
    group = requests.post(
        f"{base}/api/groups",
        json={"name": "Fuzz group", "memberIds": [other.id]},
        headers=fuzz_headers,
        timeout=30,
    )
    assert group.status_code == 200, group.text
    friendship = requests.post(
        f"{base}/api/friends/request",
        json={"addresseeId": other.id},
        headers=fuzz_headers,
        timeout=30,
    )
    assert friendship.status_code == 201, friendship.text
    message = requests.post(
        f"{base}/api/messages/upload",
        data={"recipientId": other.id},
        files={"file": ("note.txt", b"fuzz", "text/plain")},
        headers=fuzz_headers,
        timeout=30,
    )
    assert message.status_code == 200, message.text
    user_values = {
        "userId": other.id,
        "username": other.username,
        "recipientId": other.id,
        "targetUserId": other.id,
        "memberId": other.id,
        "friendshipId": friendship.json()["friendship"]["id"],
        "messageId": message.json()["messageId"],
    }
    group_id = group.json()["group"]["id"]

    def values(path: str) -> dict[str, str]:
        if path.startswith("/api/groups/"):
            return {**user_values, "id": group_id}
        if path.startswith("/api/messages/"):
            return {**user_values, "id": user_values["messageId"]}
        return user_values

    return values


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@schema.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_operation(
    case: Any,
    fuzz_server: FuzzServer,
    fuzz_headers: dict[str, str],
    http: requests.Session,
) -> None:
    case.call_and_validate(
        base_url=fuzz_server.base_url,
        session=http,
        headers=fuzz_headers,
        checks=[not_a_server_error, status_code_conformance],
        timeout=30,
    )


@schema_on_real.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_operation_on_real_resources(
    case: Any,
    fuzz_server: FuzzServer,
    fuzz_headers: dict[str, str],
    real_ids: Any,
    http: requests.Session,
) -> None:
    """The same, with path parameters naming resources that exist (the rest generated)."""
    if case.path_parameters:
        for name, value in real_ids(case.operation.path).items():
            if name in case.path_parameters:
                case.path_parameters[name] = value
    case.call_and_validate(
        base_url=fuzz_server.base_url,
        session=http,
        headers=fuzz_headers,
        checks=[not_a_server_error, status_code_conformance],
        timeout=30,
    )


def test_served_spec_is_the_one_fuzzed(fuzz_server: FuzzServer) -> None:
    served = requests.get(f"{fuzz_server.base_url}/api/openapi.json", timeout=30)
    assert served.status_code == 200
    assert served.json() == _spec()


def test_spec_is_valid_openapi_3() -> None:
    spec = _spec()
    assert spec["openapi"].startswith("3.")
    validate(spec)


def test_exclusions_name_real_operations() -> None:
    """A renamed route must not silently drop out of the exclusions (and into the fuzz)."""
    paths = _spec()["paths"]
    for method, path in EXCLUDED | EXCLUDED_ON_REAL:
        assert method.lower() in paths.get(path, {}), f"{method} {path} is not in the spec"
