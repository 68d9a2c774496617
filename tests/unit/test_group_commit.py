"""GroupCommit batches concurrent writes, keeps their order, and isolates failures."""

from __future__ import annotations

import asyncio

from chatr_server.services.group_commit import GroupCommit


async def test_concurrent_submissions_share_batches_in_order():
    batches: list[list[int]] = []

    async def run_batch(rows):
        batches.append([r[0] for r in rows])
        await asyncio.sleep(0.01)
        return [r[0] * 10 for r in rows]

    async def run_one(args):
        batches.append([args[0]])
        await asyncio.sleep(0.01)
        return args[0] * 10

    gc = GroupCommit(run_batch, run_one, max_batch=8)
    assert await gc.submit((-1,)) == -10
    assert batches == [[-1]]  # a lone write leaves at once, on its own
    batches.clear()
    results = await asyncio.gather(*(gc.submit((i,)) for i in range(20)))
    assert results == [i * 10 for i in range(20)]
    assert [i for b in batches for i in b] == list(range(20))  # arrival order kept
    assert [len(b) for b in batches] == [8, 8, 4]


async def test_failed_batch_falls_back_to_single_writes():
    async def run_batch(rows):
        raise RuntimeError("deadlock detected")

    async def run_one(args):
        if args[0] == 3:
            raise ValueError("bad row")
        return args[0]

    gc = GroupCommit(run_batch, run_one)
    results = await asyncio.gather(*(gc.submit((i,)) for i in range(6)), return_exceptions=True)
    assert results[:3] == [0, 1, 2]
    assert isinstance(results[3], ValueError)
    assert results[4:] == [4, 5]
