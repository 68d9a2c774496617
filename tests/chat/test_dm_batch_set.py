"""First contacts on the set-based batch path (``chatr_send_dm_batch``, migration 0011).

The oracle is the per-row function: the same batch, sent through
``MessagingRepo.send_dm_batch`` on one set of users and through ``chatr_send_dm``
row by row, in order, on a second set of users with the same relations, must give
the same results and leave the same rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from chatr_server.appkeys import SERVICES
from chatr_server.db.migrate import discover, migrate
from chatr_server.db.pool import _init_connection
from chatr_server.db.queries import Queries, sql_dir
from chatr_server.repos.messaging import MessagingRepo, batch_json
from tests.helpers import dm_args, make_user, until
from tests.live import settle

NAMES = "abcdefghijklmn"
GHOST = "ghost"  # a recipient who is no user


@dataclass
class World:
    """One set of users with the scenario's relations; ids ↔ the scenario's names."""

    ids: dict[str, str]
    names: dict[str, str] = field(default_factory=dict)
    setup: dict[str, uuid.UUID] = field(default_factory=dict)  # temp id → message id

    def __post_init__(self) -> None:
        self.names.update({v: k for k, v in self.ids.items()})


def _args(
    w: World,
    sender: str,
    recipient: str,
    content: str,
    temp_id: str | None,
    online: bool = True,
    reply_to: str | None = None,
) -> tuple[Any, ...]:
    """A ``chatr_send_dm`` argument tuple, the scenario's names resolved in world ``w``."""
    reply = None if reply_to is None else w.setup[reply_to]
    return dm_args(w.ids[sender], w.ids[recipient], content, temp_id, online=online, reply_to=reply)


async def _world(pool: asyncpg.Pool, repo: MessagingRepo) -> World:
    """Users a..n and their relations before the batch:

    a–e friends; a blocked f; g blocked a; a–d accepted conversation; pending requests
    b→c, n→c (the reply target) and l→m; e–i accepted, then i blocked e; a request
    f→b, then b blocked f."""
    tag = secrets.token_hex(4)
    ids = {}
    for name in NAMES:
        ids[name] = str(
            await pool.fetchval(
                "INSERT INTO users (username, password_hash, display_name)"
                " VALUES ($1, 'x', $2) RETURNING id",
                f"@w{tag}_{name}",
                name,
            )
        )
    ids[GHOST] = str(uuid.uuid4())
    w = World(ids)
    friendships = [("a", "e", "accepted"), ("a", "f", "blocked"), ("g", "a", "blocked")]
    for requester, addressee, status in friendships:
        await pool.execute(
            "INSERT INTO friendships (requester_id, addressee_id, status) VALUES ($1, $2, $3)",
            w.ids[requester],
            w.ids[addressee],
            status,
        )
    for sender, recipient, temp in [
        ("a", "d", "setup-ad"),
        ("d", "a", "setup-da"),
        ("b", "c", "setup-bc"),
        ("n", "c", "setup-nc"),
        ("l", "m", "setup-lm"),
        ("e", "i", "setup-ei"),
        ("i", "e", "setup-ie"),
        ("f", "b", "setup-fb"),
    ]:
        row = await repo.send_dm(pool, _args(w, sender, recipient, f"{temp}", temp, False))
        w.setup[temp] = row["id"]
    for blocker, blocked in (("i", "e"), ("b", "f")):
        await pool.execute(
            "INSERT INTO friendships (requester_id, addressee_id, status)"
            " VALUES ($1, $2, 'blocked')",
            w.ids[blocker],
            w.ids[blocked],
        )
    return w


# (sender, recipient, content, temp id, recipient online, reply to)
BATCH_1: list[tuple[Any, ...]] = [
    ("a", "h", "hi h", "t1", True, None),  # first message: a request, 'sent'
    ("h", "a", "hi a", "t2", True, None),  # the reply in the same batch accepts it
    ("a", "h", "again h", "t3", True, None),  # accepted now: 'delivered'
    ("i", "j", "i to j", "t4", False, None),  # a new pair opened from both sides
    ("j", "i", "j to i", "t5", True, None),
    ("c", "b", "c accepts b", "t6", True, None),  # a pending request, its reply
    ("b", "c", "b after", "t7", True, None),
    ("a", "e", "friend e", "t8", True, None),  # friends: accepted from the start
    ("e", "a", "friend a", "t9", True, None),
    ("a", "f", "to f", "t10", True, None),  # a blocked f
    ("a", "g", "to g", "t11", True, None),  # g blocked a
    ("g", "a", "g to a", "t12", True, None),
    ("a", GHOST, "nobody", "t13", True, None),
    ("a", "d", "accepted d", "t14", True, None),  # an accepted pair
    ("k", "l", "k first", "t15", True, None),  # a temp id twice in the batch
    ("k", "l", "k resend", "t15", True, None),
    ("m", "a", "m first", "t17", False, None),  # a temp id again, to someone else
    ("m", "n", "m to n", "t17", True, None),
    ("d", "a", "no temp id", None, True, None),
    ("l", "n", "first without temp id", None, True, None),
    ("c", "n", "c replies to n", "t21", True, "setup-nc"),  # a reply accepts n's request
    ("h", "a", "h third", "t23", False, None),
    ("l", "m", "l again", "t24", True, None),  # the initiator of a pending request
    ("b", "k", "b to k", "t25", True, None),  # the same new pair twice from one sender
    ("b", "k", "b to k again", "t26", True, None),
    ("e", "i", "to i, accepted but blocked", "t27", True, None),
    ("f", "b", "to b, requested then blocked", "t28", True, None),
]
# Rows the set-based function leaves to chatr_send_dm (1-based): repeated temp ids
# (and the rest of their pairs), the pair holding a reply, a block on an accepted pair.
FALLBACK_1 = {15, 16, 17, 18, 21, 26}

BATCH_2: list[tuple[Any, ...]] = [
    ("a", "h", "hi h resent", "t1", True, None),  # stored by batch 1: a duplicate
    ("i", "j", "i again", "t30", True, None),
    ("k", "l", "k resend 2", "t15", True, None),
    ("e", "m", "e to m", "t31", True, None),
    ("m", "e", "m replies", "t32", False, None),
    ("k", "b", "k replies to b", "t33", True, None),
]
FALLBACK_2 = {1, 3}
# Batch 1 once more (a group commit's retry after a lost connection): stored temp ids
# are answered by chatr_send_dm as duplicates; blocks, unknown recipients and sends
# without a temp id stay set-based.
FALLBACK_RERUN = set(range(1, len(BATCH_1) + 1)) - {10, 11, 12, 13, 19, 20, 27}


async def _setup(client: Any) -> tuple[asyncpg.Pool, MessagingRepo, World]:
    """The app's pool, a repository on the app's SQL, and one world of users."""
    services = client.app[SERVICES]
    repo = MessagingRepo(services.queries)
    return services.pool, repo, await _world(services.pool, repo)


async def _translation(pool: asyncpg.Pool, w: World) -> dict[str, str]:
    """Every id of world ``w`` (users, conversations, messages) → a name shared by worlds."""
    names = dict(w.names)
    user_ids = [uuid.UUID(v) for k, v in w.ids.items() if k != GHOST]
    for c in await pool.fetch(
        "SELECT id, participant_a, participant_b FROM conversations"
        " WHERE participant_a = ANY($1) OR participant_b = ANY($1)",
        user_ids,
    ):
        pair = sorted((names[str(c["participant_a"])], names[str(c["participant_b"])]))
        names[str(c["id"])] = "conversation " + "-".join(pair)
    for m in await pool.fetch(
        "SELECT id, content FROM messages WHERE sender_id = ANY($1)", user_ids
    ):
        names[str(m["id"])] = "message " + m["content"]
    return names


def _normal(row: Any, names: dict[str, str]) -> dict[str, Any]:
    """A result row with ids replaced by names; timestamps and the position left out."""
    out = {}
    for key, value in dict(row).items():
        if key in ("n", "created_at"):
            continue
        if isinstance(value, uuid.UUID):
            value = names[str(value)]
        out[key] = value
    return out


async def _state(pool: asyncpg.Pool, w: World, names: dict[str, str]) -> dict[str, Any]:
    """The conversations and messages of world ``w``, by name."""
    user_ids = [uuid.UUID(v) for k, v in w.ids.items() if k != GHOST]
    convs = await pool.fetch(
        "SELECT id, initiator_id, status FROM conversations"
        " WHERE participant_a = ANY($1) OR participant_b = ANY($1)",
        user_ids,
    )
    msgs = await pool.fetch(
        "SELECT id, sender_id, recipient_id, content, status, temp_id, reply_to_id,"
        " reply_to_content, reply_to_sender_name FROM messages WHERE sender_id = ANY($1)",
        user_ids,
    )
    return {
        "conversations": sorted(
            (names[str(c["id"])], names[str(c["initiator_id"])], c["status"]) for c in convs
        ),
        "messages": sorted(
            tuple(names.get(str(v), v) if isinstance(v, uuid.UUID) else v for v in m.values())
            for m in msgs
        ),
    }


async def test_batch_matches_chatr_send_dm_row_by_row(client):
    """Three batches (the first, one repeating some of its temp ids, the first again):
    results, conversations and messages as chatr_send_dm row by row leaves them."""
    pool, repo, mine = await _setup(client)
    oracle = await _world(pool, repo)
    for batch, fallback in (
        (BATCH_1, FALLBACK_1),
        (BATCH_2, FALLBACK_2),
        (BATCH_1, FALLBACK_RERUN),
    ):
        async with pool.acquire() as conn:
            got = await repo.send_dm_batch(conn, [_args(mine, *r) for r in batch])
        want = [await repo.send_dm(pool, _args(oracle, *r)) for r in batch]
        # The set-based call answered all but the expected rows (its rows carry `n`).
        assert {i for i, row in enumerate(got, 1) if "n" not in row.keys()} == fallback
        mine_names = await _translation(pool, mine)
        oracle_names = await _translation(pool, oracle)
        for i, (g, w) in enumerate(zip(got, want, strict=True), 1):
            assert _normal(g, mine_names) == _normal(w, oracle_names), f"row {i}: {batch[i - 1]}"
        assert await _state(pool, mine, mine_names) == await _state(pool, oracle, oracle_names)

    # A few facts the comparison stands on (so that both sides cannot be wrong alike).
    state = await _state(pool, mine, await _translation(pool, mine))
    convs = {c: (initiator, status) for c, initiator, status in state["conversations"]}
    assert convs["conversation a-h"] == ("a", "accepted")
    assert convs["conversation i-j"] == ("i", "accepted")
    assert convs["conversation b-k"] == ("b", "accepted")
    assert convs["conversation a-e"] == ("a", "accepted")
    assert convs["conversation k-l"] == ("k", "pending")
    assert convs["conversation l-m"] == ("l", "pending")
    assert convs["conversation e-m"] == ("e", "accepted")
    assert convs["conversation a-m"] == ("m", "pending")
    assert "conversation a-f" not in convs and "conversation a-g" not in convs


async def test_results_of_each_kind(client):
    """The results behind the events: outcome, statuses, initiator, accepted_now, blocker."""
    pool, repo, w = await _setup(client)
    async with pool.acquire() as conn:
        rows = await repo.send_dm_batch(conn, [_args(w, *r) for r in BATCH_1])
    by = {i: rows[i - 1] for i in range(1, len(rows) + 1)}

    def who(value: Any) -> str | None:
        return None if value is None else w.names[str(value)]

    # a→h opens a request; h's reply in the same batch accepts it, once.
    assert (by[1]["outcome"], by[1]["conversation_status"], by[1]["status"]) == (
        "created",
        "pending",
        "sent",
    )
    assert who(by[1]["initiator_id"]) == "a" and by[1]["accepted_now"] is False
    assert by[2]["accepted_now"] is True and by[2]["conversation_status"] == "accepted"
    assert by[2]["status"] == "delivered"
    assert by[3]["accepted_now"] is False and by[3]["status"] == "delivered"
    assert by[1]["conversation_id"] == by[2]["conversation_id"] == by[3]["conversation_id"]
    # Both directions of a new pair: one conversation, the earlier sender initiates.
    assert by[4]["conversation_id"] == by[5]["conversation_id"]
    assert who(by[4]["initiator_id"]) == who(by[5]["initiator_id"]) == "i"
    assert by[5]["accepted_now"] is True
    # An existing request accepted by its recipient's message.
    assert by[6]["accepted_now"] is True and who(by[6]["initiator_id"]) == "b"
    # Friends: accepted from the first message, nobody "accepts" it.
    assert by[8]["conversation_status"] == "accepted" and by[8]["status"] == "delivered"
    assert by[9]["accepted_now"] is False
    # Blocks either way, an unknown recipient.
    assert (by[10]["outcome"], who(by[10]["blocked_by"])) == ("blocked", "a")
    assert (by[11]["outcome"], who(by[11]["blocked_by"])) == ("blocked", "g")
    assert (by[12]["outcome"], who(by[12]["blocked_by"])) == ("blocked", "g")
    assert by[13]["outcome"] == "no_recipient" and by[13]["conversation_id"] is None
    assert (by[26]["outcome"], who(by[26]["blocked_by"])) == ("blocked", "i")
    assert (by[27]["outcome"], who(by[27]["blocked_by"])) == ("blocked", "b")
    # Repeated temp ids: the first one stored, the repeat answers with it.
    assert by[16]["outcome"] == "duplicate" and by[16]["id"] == by[15]["id"]
    assert by[18]["outcome"] == "duplicate" and by[18]["id"] == by[17]["id"]
    # The same sender twice to a new recipient: one conversation, still a request.
    assert by[24]["conversation_id"] == by[25]["conversation_id"]
    assert by[25]["conversation_status"] == "pending" and by[25]["accepted_now"] is False
    # Pending and offline: 'sent'; the initiator writing again accepts nothing.
    assert by[23]["conversation_status"] == "pending" and by[23]["status"] == "sent"
    # Timestamps follow the batch order (rows 1-9: first contacts and requests).
    stamps = [by[i]["created_at"] for i in range(1, 10)]
    assert stamps == sorted(stamps) and len(set(stamps)) == 9


async def test_two_batches_opening_the_same_pairs_concurrently(client):
    """Two connections (two nodes' writers) open the same pairs at once, both ways."""
    pool, repo, w = await _setup(client)
    pairs = [(x, y) for x in "hijk" for y in "hijk" if x < y]
    one = [_args(w, x, y, f"{x}>{y}", f"c1-{x}{y}") for x, y in pairs]
    other = [_args(w, y, x, f"{y}>{x}", f"c2-{y}{x}") for x, y in reversed(pairs)]
    async with pool.acquire() as c1, pool.acquire() as c2:
        # The first batch holds its new conversations uncommitted while the second runs.
        tx = c1.transaction()
        await tx.start()
        first = await repo.send_dm_batch(c1, one)
        second_task = asyncio.ensure_future(repo.send_dm_batch(c2, other))
        pid = c2.get_server_pid()
        waiting = "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1"
        await until(lambda: pool.fetchval(waiting, pid))
        await tx.commit()
        second = await second_task
    assert all(r["outcome"] == "created" for r in first + second)
    for x, y in pairs:
        a = next(r for r in first if r["content"] == f"{x}>{y}")
        b = next(r for r in second if r["content"] == f"{y}>{x}")
        assert a["conversation_id"] == b["conversation_id"]
        assert w.names[str(b["initiator_id"])] == x
        assert b["accepted_now"] is True and b["conversation_status"] == "accepted"
    count = await pool.fetchval(
        "SELECT count(*) FROM conversations WHERE participant_a = ANY($1::uuid[])"
        " AND participant_b = ANY($1::uuid[])",
        [w.ids[x] for x in "hijk"],
    )
    assert count == len(pairs)


async def test_concurrent_batches_without_holding(client):
    """Same pairs from both sides on two connections, neither waiting on purpose."""
    pool, repo, w = await _setup(client)
    pairs = [(x, y) for x in "hijkm" for y in "hijkm" if x < y]

    async def run(conn_rows: list[tuple[Any, ...]]) -> list[Any]:
        async with pool.acquire() as conn:
            return await repo.send_dm_batch(conn, conn_rows)

    results = await asyncio.gather(
        run([_args(w, x, y, f"{x}>{y}", f"p-{x}{y}") for x, y in pairs]),
        run([_args(w, y, x, f"{y}>{x}", f"q-{y}{x}") for x, y in pairs]),
        run([_args(w, x, y, f"{x}>>{y}", f"r-{x}{y}") for x, y in reversed(pairs)]),
    )
    rows = [r for batch in results for r in batch]
    assert all(r["outcome"] == "created" for r in rows)
    per_pair: dict[tuple[str, str], set[Any]] = {}
    for r in rows:
        key = tuple(sorted((w.names[str(r["sender_id"])], w.names[str(r["recipient_id"])])))
        per_pair.setdefault(key, set()).add(r["conversation_id"])
    assert all(len(ids) == 1 for ids in per_pair.values())
    accepted_now = [r for r in rows if r["accepted_now"]]
    assert len(accepted_now) <= len(pairs)


async def test_row_by_row_rest_takes_conversation_locks_in_pair_order(client):
    """The row-by-row statement (what the set statement leaves) locks the batch's
    pending conversations first, in key order. Two writers accepting the same two
    conversations in opposite arrival orders, while a third transaction holds the
    first of them, wait for each other; locked in arrival order, the second writer
    held the other conversation while waiting for the first, and PostgreSQL aborted
    one as a deadlock."""
    pool, _repo, w = await _setup(client)
    row_by_row = client.app[SERVICES].queries.messaging.send_dm_batch
    # Pending requests b→c and l→m (see _world): c's and m's messages accept them.
    accepts = {"bc": ("c", "b"), "lm": ("m", "l")}
    conv = {
        k: await pool.fetchrow(
            "SELECT id, participant_a, participant_b FROM conversations"
            " WHERE participant_a = LEAST($1::uuid, $2::uuid)"
            " AND participant_b = GREATEST($1::uuid, $2::uuid)",
            w.ids[x],
            w.ids[y],
        )
        for k, (x, y) in accepts.items()
    }
    first, second = sorted(conv, key=lambda k: (conv[k][1], conv[k][2]))

    def batch(order: list[str], tag: str) -> str:
        return batch_json([_args(w, *accepts[k], f"{tag}-{k}", f"{tag}-{k}") for k in order])

    waiting = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with pool.acquire() as holder, pool.acquire() as c1, pool.acquire() as c2:
        tx = holder.transaction()
        await tx.start()
        await holder.execute("SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE", conv[first][0])
        one = asyncio.ensure_future(c1.fetch(row_by_row, batch([first, second], "x")))
        await until(lambda: _count_is(pool, waiting, 1))
        # Arrival order second, first: in arrival order it would lock `second` now.
        other = asyncio.ensure_future(c2.fetch(row_by_row, batch([second, first], "y")))
        await until(lambda: _count_is(pool, waiting, 2))
        await tx.rollback()
        results = await asyncio.gather(one, other)
    assert [[r["outcome"] for r in rows] for rows in results] == [["created"] * 2] * 2
    assert [r["content"] for r in results[1]] == [f"y-{second}", f"y-{first}"]  # input order
    statuses = await pool.fetch(
        "SELECT status FROM conversations WHERE id = ANY($1)", [c[0] for c in conv.values()]
    )
    assert [s["status"] for s in statuses] == ["accepted", "accepted"]


async def _count_is(pool: asyncpg.Pool, query: str, want: int) -> bool:
    return await pool.fetchval(query) == want


@contextlib.asynccontextmanager
async def _held_flight(client: Any, connect: Any) -> AsyncIterator[Any]:
    """A DM batch in flight that waits until the block ends: sends made meanwhile queue
    up behind it and leave together, as one batch, once it is back. Yields the group
    commit (its ``pending`` counts the queued sends)."""
    services = client.app[SERVICES]
    holder, other = await make_user(client), await make_user(client)
    sock = await connect(holder)
    waiting = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with services.pool.acquire() as conn, conn.transaction():
        # The flight's inserts check their users (foreign keys, FOR KEY SHARE): they wait.
        await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", holder.id)
        await sock.emit("message:send", {"recipientId": other.id, "content": "held"})
        await until(lambda: services.pool.fetchval(waiting))
        yield services.messaging._dm_writes
    await sock.wait("message:sent")


async def test_first_contacts_in_one_batch_over_sockets(client, connect, bus):
    """Both sides of new pairs, a block and an unknown recipient in one batch: the events."""
    alice, bob, carol, dave = [await make_user(client) for _ in range(4)]
    a, b, c = await connect(alice), await connect(bob), await connect(carol)
    # A socket's sends are handled one after the other: second tabs send the rest.
    a2, c2 = await connect(alice), await connect(carol)
    pool = client.app[SERVICES].pool
    await pool.execute(
        "INSERT INTO friendships (requester_id, addressee_id, status) VALUES ($1, $2, 'blocked')",
        dave.id,
        alice.id,
    )
    ghost = str(uuid.uuid4())
    async with _held_flight(client, connect) as writes:
        await a.emit("message:send", {"recipientId": bob.id, "content": "a>b", "tempId": "1"})
        await until(lambda: writes.pending == 1)  # alice's first: she initiates
        await asyncio.gather(
            b.emit("message:send", {"recipientId": alice.id, "content": "b>a", "tempId": "2"}),
            c.emit("message:send", {"recipientId": alice.id, "content": "c>a", "tempId": "3"}),
            a2.emit("message:send", {"recipientId": dave.id, "content": "a>d", "tempId": "4"}),
            c2.emit("message:send", {"recipientId": ghost, "content": "c>?", "tempId": "5"}),
        )
        await until(lambda: writes.pending == 5)
    sent_a = await a.wait("message:sent")
    sent_b = await b.wait("message:sent")
    sent_c = await c.wait("message:sent")
    assert sent_a["tempId"] == "1" and sent_a["conversationStatus"] == "pending"
    assert sent_a["status"] == "sent"  # a request is not marked delivered
    assert sent_b["conversationStatus"] == "accepted" and sent_b["status"] == "delivered"
    assert sent_b["conversationId"] == sent_a["conversationId"]
    assert sent_c["conversationStatus"] == "pending" and sent_c["status"] == "sent"
    assert await a2.wait("message:blocked") == {
        "recipientId": dave.id,
        "tempId": "4",
        "reason": "Could not deliver — you're blocked",
    }
    assert await c2.wait("error") == {"message": "Recipient not found"}
    accepted = await a.wait("conversation:accepted")
    assert accepted == {"conversationId": sent_a["conversationId"], "acceptedBy": bob.id}
    received = await a.wait_count("message:received", 2)
    assert {m["content"] for m in received} == {"b>a", "c>a"}
    assert (await b.wait("message:received"))["content"] == "a>b"
    await settle(a, b, c, a2, c2)
    assert len(bus.events("conversation:accepted")) == 1
    assert bus.recipients("conversation:accepted") == {alice.id}
    assert bus.recipients("message:received") >= {alice.id, bob.id}
    assert len([m for _, m in bus.events("message:received") if m["content"] != "held"]) == 3


async def test_a_send_to_oneself_is_refused_before_the_batch(client, connect):
    """No conversation with oneself: refused with the send's failure text before it
    joins a batch (it used to fail its batch's statement, stored rows included)."""
    alice, bob = await make_user(client), await make_user(client)
    a, a2, b = await connect(alice), await connect(alice), await connect(bob)
    async with _held_flight(client, connect) as writes:
        await a.emit("message:send", {"recipientId": bob.id, "content": "hi", "tempId": "x1"})
        await until(lambda: writes.pending == 1)
        await a2.emit("message:send", {"recipientId": alice.id, "content": "me", "tempId": "x2"})
        assert await a2.wait("error") == {"message": "Failed to send message"}
        assert writes.pending == 1
    sent = await a.wait("message:sent")
    assert (await b.wait("message:received"))["id"] == sent["id"]
    stored = "SELECT count(*) FROM messages WHERE sender_id = $1"
    assert await client.app[SERVICES].pool.fetchval(stored, alice.id) == 1


async def test_migration_applies_on_a_database_at_0010(empty_db, tmp_path):
    """A database migrated up to 0010, with DMs in it, takes 0011 and uses it."""
    folder = tmp_path / "sql"
    shutil.copytree(sql_dir(), folder)
    later = [m for m in discover(folder / "migrations") if m.version > "0010"]
    moved = tmp_path / "later"
    moved.mkdir()
    for m in later:
        m.path.rename(moved / m.path.name)
    conn = await asyncpg.connect(empty_db)
    try:
        await migrate(conn, folder / "migrations")
        assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == "0010"
        users = [
            await conn.fetchval(
                "INSERT INTO users (username, password_hash) VALUES ($1, 'x') RETURNING id",
                f"@m{i}_{secrets.token_hex(3)}",
            )
            for i in range(2)
        ]
        await conn.fetchrow(
            "SELECT * FROM chatr_send_dm($1, $2, 'before', 'text', NULL, NULL, NULL, NULL,"
            " NULL, NULL, NULL, NULL, 'm1', NULL, false)",
            *users,
        )
        for m in later:
            (moved / m.path.name).rename(m.path)
        assert await migrate(conn, folder / "migrations") == [m.version for m in later]
        await _init_connection(conn)  # the app's codecs (jsonb)
        repo = MessagingRepo(Queries())
        rows = await repo.send_dm_batch(
            conn,
            [
                (str(users[1]), str(users[0]), "after", "text", *([None] * 8), "m2", None, True),
                (str(users[0]), str(users[1]), "again", "text", *([None] * 8), "m1", None, True),
            ],
        )
        assert [r["outcome"] for r in rows] == ["created", "duplicate"]
        assert rows[0]["accepted_now"] is True and rows[0]["status"] == "delivered"
    finally:
        await conn.close()
