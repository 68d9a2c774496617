"""GET /metrics on the real app: series, labels, and who may read it (issue 14)."""

from __future__ import annotations

import gc
import uuid
from typing import Any

from chatr_server.appkeys import SERVICES
from chatr_server.metrics import Metrics
from tests.helpers import make_user
from tests.metrics.scrape import Sample, bad_labels, parse, total


async def scrape(client: Any, **headers: str) -> list[Sample]:
    resp = await client.get("/metrics", headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("text/plain")
    return parse(await resp.text())


async def test_thirty_direct_messages_show_in_the_scrape(client, connect) -> None:
    alice, bob = await make_user(client), await make_user(client)
    before = await scrape(client)
    a, b = await connect(alice), await connect(bob, transports=["polling"])
    for i in range(30):
        await a.emit("message:send", {"recipientId": bob.id, "content": f"m{i}", "tempId": f"t{i}"})
    await a.wait_count("message:sent", 30)
    await b.wait_count("message:received", 30)
    # HTTP series: a templated route (the id must not show) and a path no route matches.
    assert (await client.get(f"/api/users/by-id/{bob.id}", headers=alice.auth)).status == 200
    assert (await client.get(f"/no/such/{uuid.uuid4()}")).status == 404
    after = await scrape(client)

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("chatr_messages_stored_total", kind="direct") >= 30
    assert grew("chatr_message_ack_seconds_count") >= 30
    assert grew("chatr_socketio_events_total", event="message:send") >= 30
    assert grew("chatr_group_commit_batch_size_sum") >= 30
    assert total(after, "chatr_socket_connections") >= 2
    assert total(after, "chatr_socket_connections", transport="websocket") >= 1
    assert total(after, "chatr_socket_connections", transport="polling") >= 1
    route = "/api/users/by-id/{userId}"
    assert total(after, "chatr_http_requests_total", method="GET", route=route, status="200") >= 1
    assert total(after, "chatr_http_requests_total", route="unmatched", status="404") >= 1
    assert total(after, "chatr_http_request_duration_seconds_count", route=route) >= 1
    assert not [s for s in after if s.labels.get("route", "").startswith("/socket.io")]
    assert total(after, "chatr_dependency_up", dependency="postgres") == 1
    assert total(after, "chatr_db_pool_max_connections") == client.app[SERVICES].pool.get_max_size()
    assert {s.labels["state"] for s in after if s.name == "chatr_db_pool_connections"} == {
        "idle",
        "in_use",
    }
    assert total(after, "chatr_ready") == 1
    names = {s.name for s in after}
    assert "process_cpu_seconds_total" in names or "process_resident_memory_bytes" in names
    assert "python_gc_collections_total" in names
    assert bad_labels(after, client.app) == []
    await a.close()
    await b.close()


async def test_refused_sends_and_unknown_events_are_counted(client, connect) -> None:
    alice, bob = await make_user(client), await make_user(client)
    await client.app[SERVICES].pool.execute(
        "INSERT INTO friendships (requester_id, addressee_id, status) VALUES ($1, $2, 'blocked')",
        uuid.UUID(bob.id),
        uuid.UUID(alice.id),
    )
    before = await scrape(client)
    a = await connect(alice)
    await a.emit("message:send", {"recipientId": bob.id, "content": "hi", "tempId": "x1"})
    await a.wait("message:blocked")
    await a.emit("message:send", {"recipientId": "not-an-id", "content": "hi"})
    await a.wait("error")
    # Unknown event names are folded into one value, whatever the client invents.
    for i in range(3):
        await a.emit(f"made-up:{uuid.uuid4()}:{i}", {})
    # An acknowledged round trip: everything emitted before it has been handled.
    await a.call("presence:request", [])
    after = await scrape(client)

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("chatr_sends_refused_total", reason="blocked") == 1
    assert grew("chatr_sends_refused_total", reason="invalid") == 1
    assert grew("chatr_socketio_events_total", event="other") == 3
    assert bad_labels(after, client.app) == []
    await a.close()


async def test_development_scrape_is_open(client) -> None:
    await scrape(client)


async def test_production_needs_the_token(make_client) -> None:
    token = "s3cret-metrics-token-for-tests"
    no_token = await make_client(production=True, metrics_token=None)
    resp = await no_token.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 404
    assert await resp.json() == {"error": "Not found"}

    guarded = await make_client(production=True, metrics_token=token)
    assert (await guarded.get("/metrics")).status == 401
    for wrong in (f"Bearer {token}x", f"Basic {token}", token, "Bearer "):
        resp = await guarded.get("/metrics", headers={"Authorization": wrong})
        assert resp.status == 401, wrong
        assert resp.headers["WWW-Authenticate"] == "Bearer"
    samples = await scrape(guarded, Authorization=f"Bearer {token}")
    assert total(samples, "chatr_dependency_up", dependency="postgres") == 1


def test_the_brokers_counts_are_copied_at_scrape_time() -> None:
    """Lost broadcasts and refused Redis commands are plain integers on the broker; a
    scrape adds what they grew by since it was watched (not what came before)."""
    counts = {"lost": 5, "refused": 2}
    metrics = Metrics(None)
    metrics.watch(broker_lost=lambda: counts["lost"], broker_refused=lambda: counts["refused"])
    counts["lost"] += 3
    counts["refused"] += 1
    metrics.refresh()
    metrics.refresh()  # nothing new: nothing added twice
    samples = parse(metrics.render(None)[0].decode())
    assert total(samples, "chatr_redis_adapter_dropped_total") == 3
    assert total(samples, "chatr_redis_commands_refused_total") == 1


async def test_garbage_collector_pauses_are_timed_while_the_app_runs(client) -> None:
    before = await scrape(client)
    gc.collect()  # a full collection: generation 2
    after = await scrape(client)
    grew = total(after, "chatr_gc_pause_seconds_count", generation="2") - total(
        before, "chatr_gc_pause_seconds_count", generation="2"
    )
    assert grew >= 1
    assert total(after, "chatr_gc_pause_seconds_sum", generation="2") > 0
    assert bad_labels(after, client.app) == []


def test_garbage_collector_pauses_are_timed_only_inside_timing() -> None:
    """The callback is the interpreter's: on the list while timing, off it after."""

    def collections(metrics: Metrics) -> float:
        metrics.refresh()
        samples = parse(metrics.render(None)[0].decode())
        return total(samples, "chatr_gc_pause_seconds_count", generation="1")

    metrics = Metrics(None)
    with metrics.gc_pauses.timing():
        assert metrics.gc_pauses in gc.callbacks
        gc.collect(1)
        timed = collections(metrics)
    assert timed >= 1
    assert metrics.gc_pauses not in gc.callbacks
    gc.collect(1)
    assert collections(metrics) == timed
