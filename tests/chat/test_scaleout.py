"""Several server processes sharing Redis and the database (docs/scaling.md).

Real ``python -m chatr_server serve`` subprocesses on loopback: two independent nodes,
and one ``--workers 2`` deployment whose workers share a port (SO_REUSEPORT) and
forward each other's polling requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio

from chatr_server.appkeys import SERVICES
from chatr_server.realtime.cluster import TAG_LENGTH
from chatr_server.realtime.redis_adapter import connect
from tests.helpers import free_port, make_user, until
from tests.live import LiveClient


class Deployment:
    """One ``serve`` command (possibly with workers) on its own port."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str) -> None:
        self.proc = proc
        self.url = url

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


@pytest_asyncio.fixture
async def launch(base_settings, tmp_path, scaleout_redis) -> AsyncIterator[Any]:
    redis_url, cluster = scaleout_redis
    # A prefix of their own: the in-process test app is not one of these nodes.
    prefix = f"{base_settings.redis_prefix}scale-{secrets.token_hex(3)}:"
    started: list[Deployment] = []
    redis = connect(redis_url, cluster=cluster)

    async def nodes() -> dict[str, str]:
        """Advertised node id → internal URL."""
        found = {}
        async for key in redis.scan_iter(match=f"{prefix}eio-node:*"):
            url = await redis.get(key)
            if url is not None:
                found[key.decode().rsplit(":", 1)[1]] = url.decode()
        return found

    async def start(workers: int = 1) -> Deployment:
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": base_settings.database_url,
            "REDIS_URL": redis_url,
            "REDIS_CLUSTER": "1" if cluster else "0",
            "REDIS_PREFIX": prefix,
            "JWT_SECRET": base_settings.jwt_secret,
            "RATE_LIMITS_ENABLED": "false",
            "CHATR_DATA_DIR": str(tmp_path / "var"),
            "UPLOADS_DIR": str(tmp_path / "uploads"),
            "LOG_LEVEL": "WARNING",
        }
        env.pop("WEB_WORKERS", None)
        before = len(await nodes())
        args = ["serve", "--host", "127.0.0.1", "--port", str(port)]
        if workers > 1:
            args += ["--workers", str(workers)]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chatr_server", *args, env=env
        )
        deployment = Deployment(proc, f"http://127.0.0.1:{port}")
        started.append(deployment)
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{deployment.url}/api/health") as resp:
                        if resp.status == 200 and len(await nodes()) >= before + workers:
                            return deployment
                await asyncio.sleep(0.05)
        raise RuntimeError("server did not start")

    start.nodes = nodes  # type: ignore[attr-defined]
    yield start
    for deployment in started:
        await deployment.stop()
    await redis.aclose()


async def _live(url: str, user: Any, transports: list[str] | None = None) -> LiveClient:
    live = LiveClient(user)
    await live.sio.connect(url, transports=transports, auth={"token": user.token}, wait_timeout=5)
    await live.wait("socket:ready", index=0)
    return live


async def _befriend(client: Any, a: Any, b: Any) -> None:
    await client.app[SERVICES].pool.execute(
        "INSERT INTO friendships (requester_id, addressee_id, status) VALUES ($1, $2, 'accepted')",
        uuid.UUID(a.id),
        uuid.UUID(b.id),
    )


async def test_two_nodes_share_messages_and_presence(client, launch) -> None:
    node_a, node_b = await asyncio.gather(launch(), launch())
    alice, bob = await make_user(client), await make_user(client)
    await _befriend(client, alice, bob)
    b = await _live(node_b.url, bob, ["polling"])
    a = await _live(node_a.url, alice, ["websocket"])
    try:
        # Presence: bob (node B) hears alice (node A) come online; alice sees bob online.
        status = await b.wait("user:status")
        assert (status["userId"], status["status"]) == (alice.id, "online")
        assert a.events["presence:update"][0]["onlineUsers"] == [
            {"userId": bob.id, "status": "online"}
        ]
        await a.emit("message:send", {"recipientId": bob.id, "content": "across", "tempId": "t1"})
        received = await b.wait("message:received")
        assert received["content"] == "across" and received["senderId"] == alice.id
        await b.emit("message:send", {"recipientId": alice.id, "content": "back", "tempId": "t2"})
        assert (await a.wait("message:received"))["content"] == "back"
        await b.close()
        offline = await a.wait("user:status")
        assert (offline["userId"], offline["status"]) == (bob.id, "offline")
    finally:
        await a.close()
        await b.close()


async def test_workers_serve_polling_and_upgrades_repeatedly(client, launch) -> None:
    deployment = await launch(workers=2)
    alice, bob = await make_user(client), await make_user(client)
    owners: set[str] = set()
    b = await _live(deployment.url, bob, ["websocket"])
    try:
        for round_ in range(6):
            for transports in (["polling"], None):
                a = await _live(deployment.url, alice, transports)
                try:
                    owners.add(a.sio.eio.sid[:TAG_LENGTH])
                    if transports is None:
                        await until(lambda: a.sio.transport() == "websocket", 2)  # noqa: B023
                    temp = f"w{round_}-{transports}"
                    await a.emit(
                        "message:send", {"recipientId": bob.id, "content": temp, "tempId": temp}
                    )
                    assert (await a.wait("message:sent"))["tempId"] == temp
                    assert (await b.wait("message:received"))["content"] == temp
                finally:
                    await a.close()
    finally:
        await b.close()
    assert len(owners) == 2, "sessions should have landed on both workers"


@pytest.mark.parametrize("layout", ["workers", "nodes"])
async def test_requests_on_the_wrong_process(client, launch, layout) -> None:
    """Polling requests are forwarded; a websocket upgrade is handed over to the owning
    worker (same machine) or relayed to the owning node (``nodes``: no shared directory)."""
    if layout == "workers":
        entry = (await launch(workers=2)).url
    else:
        entry = (await asyncio.gather(launch(), launch()))[0].url
    nodes = await launch.nodes()
    assert len(nodes) == 2
    alice = await make_user(client)
    base = "/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http:
        async with http.get(entry + base) as resp:
            sid = orjson.loads((await resp.text())[1:])["sid"]
        owner = sid[:TAG_LENGTH]
        assert owner in nodes
        (other,) = [url for node, url in nodes.items() if node != owner]
        url = f"{other}{base}&sid={sid}"
        connect = "40" + orjson.dumps({"token": alice.token}).decode()
        async with http.post(url, data=connect) as resp:
            assert (resp.status, await resp.text()) == (200, "ok")
        seen = ""
        for _ in range(10):
            async with http.get(url) as resp:
                assert resp.status == 200
                seen += await resp.text()
            if "socket:ready" in seen:
                break
        assert seen.startswith("40{") and "socket:ready" in seen
        ws_url = f"{other}/socket.io/?EIO=4&transport=websocket&sid={sid}"
        async with http.ws_connect(ws_url) as ws:
            await ws.send_str("2probe")
            assert await ws.receive_str() == "3probe"
            await ws.send_str("5")
            for i in range(3):
                await ws.send_str('42["presence:request",["' + alice.id + '"]]')
                reply = await asyncio.wait_for(ws.receive_str(), 5)
                assert reply.startswith('42["presence:response"'), (i, reply)
        # Unknown node tag: the usual "Session ID unknown".
        async with http.get(f"{other}{base}&sid=zzzzzzzz{sid[TAG_LENGTH:]}") as resp:
            assert resp.status == 400
            assert (await resp.json())["code"] == 1
