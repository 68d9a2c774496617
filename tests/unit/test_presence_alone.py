"""One process and no Redis: presence reads its own connections' records directly.

They must answer exactly what the store holds (the same service reading through the
store is the reference), whatever happened to the records since they were written.
"""

from __future__ import annotations

from chatr_server.services.presence import PresenceService
from chatr_server.store.memory import MemoryStore


async def test_records_read_here_match_the_store_after_every_change() -> None:
    store = MemoryStore()
    alone = PresenceService(store, "only")
    through_store = PresenceService(store, "only")
    through_store._alone = False  # the reference: every read goes through the store
    users = [f"u{i}" for i in range(6)]

    async def same(peers: list[str]) -> dict:
        expected = await through_store.records(peers)
        assert await alone.records(peers) == expected
        return expected

    assert await same(users) == {}
    await alone.connect("u0", hidden=False)
    await alone.connect("u1", hidden=True)
    await alone.connect("u2", hidden=False)
    await alone.connect("u2", hidden=False)  # a second tab
    seen = await same(users)
    assert set(seen) == {"u0", "u1", "u2"}
    assert seen["u1"]["hidden"] is True and seen["u0"]["hidden"] is False
    assert await alone.set_status("u0", "away") is not None
    assert await alone.set_hidden("u2", True) is not None
    seen = await same(users)
    assert seen["u0"]["status"] == "away" and seen["u2"]["hidden"] is True
    assert await alone.disconnect("u2") == (False, seen["u2"])  # one tab left
    await alone.disconnect("u1")
    seen = await same(users)
    assert set(seen) == {"u0", "u2"}
    # What a connect answers about its peers is the same reading.
    answered = await alone.connect("u3", hidden=False, peers=users)
    assert answered == await through_store.records(users)
    assert set(answered) == {"u0", "u2", "u3"}
