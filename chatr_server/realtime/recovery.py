"""Socket.IO connection-state recovery (protocol v5, server 4.6+), cluster-wide.

What the wire sees (as the official server speaks it): the CONNECT reply carries a private
session id ``pid``; every event the server sends to a recoverable socket carries an offset
string as its last argument (not acks, not events sent with an ack callback); a client
that lost its connection sends ``{pid, offset, ...auth}`` in its next CONNECT and, when the
session is restored, receives every missed event *before* the CONNECT reply, then
``{sid, pid}`` with its old sid and rooms.

How it is kept (docs/realtime.md has the reasoning):

* **Emitters and sequence numbers.** Each process is an *emitter* with a random id. Every
  stored emit gets ``seq``: microseconds of the emitter's clock, strictly increasing per
  emitter. Events of one emitter reach every process in ``seq`` order (local delivery in
  emit order, Redis pub/sub FIFO per publisher).
* **Offsets are vectors.** The offset a process appends is its *delivery vector*: for each
  emitter it heard from, the last ``seq`` it delivered. It is the same for every recipient
  of one fan-out on one process, so a packet is still encoded once; only the offset is
  appended (a bytes concatenation, no re-encoding). A socket has received exactly the
  events of its rooms with ``seq <= vector[emitter]``, whatever the interleaving of
  emitters, so replay needs no global order and no clock agreement.
* **Storage per room and emitter.** The emitting process appends each emit once per
  target room (not per socket) to a bounded log of that room and emitter, with a TTL of the
  recovery window: ``MemoryRecoveryStore`` in process, ``RedisRecoveryStore`` as Redis
  streams whose ids are the ``seq`` (so "after the offset" is one ``XRANGE``). The session
  record (pid, sid, owner, rooms) is written while the socket is connected and refreshed,
  so it survives a SIGKILL of its process.
* **Security.** A pid is 144 random bits and is bound to an opaque *owner* the
  application sets in its connect hook (the user id). The connect hook always runs; a
  session is restored only when the hook accepted the handshake and set the same owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import re
import secrets
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import orjson
from redis.crc import key_slot

if TYPE_CHECKING:
    from .redis_adapter import RedisBroker

log = logging.getLogger("chatr_server.realtime.recovery")

DEFAULT_WINDOW_S: Final = 120.0
DEFAULT_MAX_MISSED: Final = 1000
# Disconnect reasons that end a session at once (deliberate, or a broken client); every
# other reason (transport close/error, ping timeout, forced close, shutdown) keeps it.
ENDING_REASONS: Final = frozenset(
    ("client namespace disconnect", "server namespace disconnect", "parse error")
)
# An emitter missing from an offset vector: replay its entries newer than the vector's
# newest seq minus this (covers pub/sub lag of an emitter the process had not heard from
# yet). A process forgets emitters silent for window + 2 × margin, whose entries are then
# older than any floor it can produce.
_ABSENT_MARGIN_US: Final = 30_000_000
# Offsets come from clients: bounded before parsing.
_MAX_OFFSET_CHARS: Final = 4000
_MAX_VECTOR: Final = 128
_PID_RE: Final = re.compile(r"[A-Za-z0-9_-]{16,64}")
_VECTOR_PART_RE: Final = re.compile(r"([0-9a-f]{1,32}):([0-9a-f]{1,16})")
# How often connected sessions are written again (TTL = window + 2 × this).
_MAX_TOUCH_S: Final = 30.0
# Room logs whose expiry RedisRecoveryStore remembers having set (then it forgets all).
_MAX_REFRESHED: Final = 100_000

Origin = tuple[str, int]  # (emitter id, seq)


@dataclass(slots=True)
class SessionRecord:
    """What is kept of a recoverable socket (never its application data)."""

    pid: str
    sid: str
    namespace: str
    owner: str
    rooms: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Entry:
    """One stored emit as seen by one room: its frames *without* an offset."""

    emitter: str
    seq: int
    excluded: frozenset[str]
    frames: Sequence[bytes]


def new_pid() -> str:
    return secrets.token_urlsafe(18)


def format_vector(vector: dict[str, int]) -> str:
    return ".".join(f"{emitter}:{seq:x}" for emitter, seq in vector.items())


def parse_offset(offset: str) -> dict[str, int] | None:
    """The vector of a client-supplied offset, or None if it is not one of ours."""
    if not offset or len(offset) > _MAX_OFFSET_CHARS:
        return None
    vector: dict[str, int] = {}
    for part in offset.split("."):
        match = _VECTOR_PART_RE.fullmatch(part)
        if match is None:
            return None
        vector[match[1]] = int(match[2], 16)
    if len(vector) > _MAX_VECTOR:
        return None
    return vector


def with_offset(frames: Sequence[bytes], offset: bytes) -> list[bytes]:
    """``frames`` with the offset appended as the event's last argument.

    The text frame of an EVENT ends with the ``]`` of its data array, so this is a slice
    and a concatenation: the JSON is not touched again.
    """
    text = frames[0]
    out = [text[:-1] + offset]
    if len(frames) > 1:
        out.extend(frames[1:])
    return out


def _offset_suffix(offset: str) -> bytes:
    return b',"' + offset.encode() + b'"]'


class RecoveryStore(ABC):
    """Where sessions and the logs of stored emits live. Writes never block."""

    def __init__(self, window: float, max_missed: int) -> None:
        self.window = window
        self.max_missed = max_missed

    @abstractmethod
    def append(
        self,
        namespace: str,
        rooms: Iterable[str],
        emitter: str,
        seq: int,
        excluded: frozenset[str],
        frames: Sequence[bytes],
    ) -> None:
        """Log one emit (its frames without offset) in each of ``rooms`` ("" = everyone)."""

    @abstractmethod
    def save(self, sessions: Iterable[SessionRecord]) -> None:
        """Write (or refresh) the records of connected sessions."""

    @abstractmethod
    def keep(self, record: SessionRecord) -> None:
        """The connection dropped: keep the session for the window, then forget it."""

    @abstractmethod
    def end(self, record: SessionRecord) -> None:
        """Forget the session now (deliberate disconnect)."""

    @abstractmethod
    async def load(self, pid: str) -> SessionRecord | None: ...

    @abstractmethod
    async def entries(
        self, namespace: str, rooms: Collection[str], vector: dict[str, int], floor: int
    ) -> list[Entry] | None:
        """Entries of ``rooms`` after ``vector`` (``floor`` for absent emitters), in any
        order and possibly with duplicates; None when more than ``max_missed`` in a room."""

    def sweep(self) -> None:  # noqa: B027 - optional periodic housekeeping
        """Drop what expired (in-process stores)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


class MemoryRecoveryStore(RecoveryStore):
    """One process: a bounded log per room, sessions in a dict; swept periodically.

    A room's log is two deques kept side by side: the entries' ``seq`` (ints) and their
    items. Nearly every emit is one text frame from this process's own emitter to every
    socket of the room, and its item is then that frame: bytes, which the garbage
    collector never tracks. Any other emit is one flat tuple of strings and bytes,
    ``(emitter, number of excluded rooms, *excluded rooms, *frames)``, untracked by the
    first young collection that sees it. (At 7,500 msg/s, two entries per message, a
    tuple per entry filled every young collection with ~50,000 of them, none garbage:
    10-25 ms pauses every three seconds. A tuple holding tuples, or a frozenset, is not
    untracked until an older generation's collection, which then walked half a million
    entries at once: pauses of a quarter of a second.)
    """

    def __init__(self, window: float = DEFAULT_WINDOW_S, max_missed: int = DEFAULT_MAX_MISSED):
        super().__init__(window, max_missed)
        # (namespace, room) → (seqs, items), both in seq order (one emitter in practice:
        # this process; seq is also the time, in µs, for the sweep).
        self._rooms: dict[tuple[str, str], tuple[deque[int], deque[Any]]] = {}
        # The emitter whose plain one-frame emits are stored as their bare frame.
        self._home: str | None = None
        # pid → (record, expiry time or None while connected)
        self._sessions: dict[str, tuple[SessionRecord, float | None]] = {}

    def append(
        self,
        namespace: str,
        rooms: Iterable[str],
        emitter: str,
        seq: int,
        excluded: frozenset[str],
        frames: Sequence[bytes],
    ) -> None:
        if self._home is None:
            self._home = emitter
        item: Any = frames[0] if len(frames) == 1 else None
        if type(item) is not bytes or excluded or emitter != self._home:
            item = (emitter, len(excluded), *excluded, *frames)
        logs = self._rooms
        for room in rooms:
            key = (namespace, room)
            log_ = logs.get(key)
            if log_ is None:
                size = self.max_missed + 1
                log_ = logs[key] = (deque(maxlen=size), deque(maxlen=size))
            log_[0].append(seq)
            log_[1].append(item)

    def save(self, sessions: Iterable[SessionRecord]) -> None:
        for record in sessions:
            self._sessions[record.pid] = (record, None)

    def keep(self, record: SessionRecord) -> None:
        self._sessions[record.pid] = (record, time.monotonic() + self.window)

    def end(self, record: SessionRecord) -> None:
        self._sessions.pop(record.pid, None)
        self._rooms.pop((record.namespace, record.sid), None)

    async def load(self, pid: str) -> SessionRecord | None:
        found = self._sessions.get(pid)
        if found is None:
            return None
        record, expires = found
        if expires is not None and expires < time.monotonic():
            del self._sessions[pid]
            return None
        return record

    async def entries(
        self, namespace: str, rooms: Collection[str], vector: dict[str, int], floor: int
    ) -> list[Entry] | None:
        found: list[Entry] = []
        home = self._home or ""
        for room in rooms:
            log_ = self._rooms.get((namespace, room))
            if log_ is None:
                continue
            count = 0
            for seq, item in zip(reversed(log_[0]), reversed(log_[1]), strict=True):
                if type(item) is bytes:
                    entry = Entry(home, seq, frozenset(), (item,))
                else:
                    cut = 2 + item[1]
                    entry = Entry(item[0], seq, frozenset(item[2:cut]), item[cut:])
                if seq <= vector.get(entry.emitter, floor):
                    break
                count += 1
                if count > self.max_missed:
                    return None
                found.append(entry)
        return found

    def sweep(self) -> None:
        now = time.monotonic()
        horizon = int((time.time() - self.window) * 1_000_000)
        for pid, (_record, expires) in list(self._sessions.items()):
            if expires is not None and expires < now:
                del self._sessions[pid]
        for key, (seqs, items) in list(self._rooms.items()):
            while seqs and seqs[0] < horizon:
                seqs.popleft()
                items.popleft()
            if not seqs:
                del self._rooms[key]


@functools.lru_cache(maxsize=65_536)
def _tag(namespace: str, room: str) -> str:
    # Room names are arbitrary text: hash them for a key-safe Redis Cluster hash tag.
    # Cached: a user's room is logged to on every emit to them (a storm: 50 per connect).
    return hashlib.blake2b(f"{namespace}\0{room}".encode(), digest_size=12).hexdigest()


# One emit into the logs of several rooms, as one command (per hash slot on a cluster)
# instead of an XADD per room: a user:status to 50 contacts was 50 commands, each packed
# and answered through redis-py. KEYS: the room streams (those whose expiry is due
# first), then the emitter sets of the due ones; ARGV: stream id, MAXLEN, excluded rooms,
# frames, expiry (ms), emitter, how many are due. pcall: a refused XADD (an id not above
# the stream's last) skips that room only, as it would as a command of its own. An emit
# to one room whose expiry is already set (a message: the recipient's room) sends that
# plain XADD instead: one command either way, and less work for Redis.
_APPEND_SCRIPT: Final = """
local due = tonumber(ARGV[7])
local streams = #KEYS - due
for i = 1, streams do
  redis.pcall('XADD', KEYS[i], 'MAXLEN', '~', ARGV[2], ARGV[1], 'x', ARGV[3], 'f', ARGV[4])
end
for i = 1, due do
  redis.call('PEXPIRE', KEYS[i], ARGV[5])
  redis.call('SADD', KEYS[streams + i], ARGV[6])
  redis.call('PEXPIRE', KEYS[streams + i], ARGV[5])
end
return streams
"""


def _by_slot(due: list[str], fresh: list[str]) -> list[tuple[list[str], list[str]]]:
    """``(due, fresh)`` room keys split by Redis Cluster hash slot (a script's keys must
    share one); a room's stream and emitter set share its hash tag, so its slot."""
    groups: dict[int, tuple[list[str], list[str]]] = {}
    for index, keys in enumerate((due, fresh)):
        for key in keys:
            groups.setdefault(key_slot(key.encode()), ([], []))[index].append(key)
    return list(groups.values())


class RedisRecoveryStore(RecoveryStore):
    """Sessions as hashes, room logs as one stream per (room, emitter), both with TTLs.

    Keys (``P`` = the broker's prefix; the ``{…}`` hash tags keep each session's and each
    room's keys in one Redis Cluster slot): ``P sio-s:{pid}`` (hash: sid, ns, owner,
    rooms), ``P sio-r:{room-hash}:<emitter>`` (stream, id ``<seq>-0``, fields ``x``: the
    excluded rooms as JSON, ``f``: the frames), ``P sio-r:{room-hash}:e`` (set of the
    emitters that logged in the room). Writes ride the broker's publish pipeline, in the
    same batch as the broadcast they belong to; reads happen only when a client restores.
    """

    def __init__(
        self,
        broker: RedisBroker,
        window: float = DEFAULT_WINDOW_S,
        max_missed: int = DEFAULT_MAX_MISSED,
    ) -> None:
        super().__init__(window, max_missed)
        self.broker = broker
        self._ttl_ms = int(window * 1000)
        self._touch_ttl_ms = int((window + 2 * min(_MAX_TOUCH_S, window / 4)) * 1000)
        # A room log's expiry and emitter set are written at most every _refresh_s per
        # stream, with the expiry lengthened by as much, instead of three more commands
        # per room on every emit (a user:status to 50 contacts: 150 of its 200 commands).
        self._refresh_s = min(_MAX_TOUCH_S, window / 4)
        self._refreshed: dict[str, float] = {}  # stream → when its expiry was last set

    def _session_key(self, pid: str) -> str:
        return f"{self.broker.prefix}sio-s:{{{pid}}}"

    def _room_key(self, namespace: str, room: str) -> str:
        return f"{self.broker.prefix}sio-r:{{{_tag(namespace, room)}}}"

    def append(
        self,
        namespace: str,
        rooms: Iterable[str],
        emitter: str,
        seq: int,
        excluded: frozenset[str],
        frames: Sequence[bytes],
    ) -> None:
        from .redis_adapter import _encode_frames

        body = _encode_frames(frames)
        excluded_json = orjson.dumps(sorted(excluded)) if excluded else b"[]"
        # One more than a restore may take: a trimmed gap after an offset then shows up
        # as too many entries instead of a silent hole.
        maxlen = self.max_missed + 1
        # Set at most _refresh_s ago, for the window plus as much: every entry stays
        # readable for at least the window.
        ttl = self._ttl_ms + int(self._refresh_s * 1000)
        now = time.monotonic()
        refreshed = self._refreshed
        if len(refreshed) > _MAX_REFRESHED:
            refreshed.clear()  # the next emit to each room refreshes it again
        limit = now - self._refresh_s
        due: list[str] = []  # room keys whose expiry is to be set again
        fresh: list[str] = []
        for room in rooms:
            key = self._room_key(namespace, room)
            if refreshed.get(key, limit) <= limit:
                refreshed[key] = now
                due.append(key)
            else:
                fresh.append(key)
        if not due and not fresh:
            return
        entry_id = f"{seq}-0"
        args = (entry_id, maxlen, excluded_json, body, ttl, emitter)
        groups = _by_slot(due, fresh) if self.broker.cluster else [(due, fresh)]

        def write(pipe: Any) -> None:
            for due_keys, fresh_keys in groups:
                if not due_keys and len(fresh_keys) == 1:
                    # One room whose expiry is set: what the script would run, without
                    # the script call (Redis spends 15 µs on that call, 6 on the XADD).
                    fields = {"x": excluded_json, "f": body}
                    pipe.xadd(f"{fresh_keys[0]}:{emitter}", fields, id=entry_id, maxlen=maxlen)
                    continue
                keys = [f"{key}:{emitter}" for key in due_keys]
                keys += [f"{key}:{emitter}" for key in fresh_keys]
                keys += [f"{key}:e" for key in due_keys]
                pipe.eval(_APPEND_SCRIPT, len(keys), *keys, *args, len(due_keys))

        self.broker.command(write)

    def _write_session(self, pipe: Any, record: SessionRecord, ttl_ms: int) -> None:
        key = self._session_key(record.pid)
        pipe.hset(
            key,
            mapping={
                "sid": record.sid,
                "ns": record.namespace,
                "owner": record.owner,
                "rooms": orjson.dumps(record.rooms),
            },
        )
        pipe.pexpire(key, ttl_ms)

    def save(self, sessions: Iterable[SessionRecord]) -> None:
        batch = list(sessions)
        if not batch:
            return
        ttl = self._touch_ttl_ms

        def write(pipe: Any) -> None:
            for record in batch:
                self._write_session(pipe, record, ttl)

        self.broker.command(write)

    def keep(self, record: SessionRecord) -> None:
        ttl = self._ttl_ms
        self.broker.command(lambda pipe: self._write_session(pipe, record, ttl))

    def end(self, record: SessionRecord) -> None:
        key = self._session_key(record.pid)
        self.broker.command(lambda pipe: pipe.delete(key))

    async def load(self, pid: str) -> SessionRecord | None:
        raw = await self.broker.redis.hgetall(self._session_key(pid))
        if not raw:
            return None
        data = {k.decode(): v for k, v in raw.items()}
        try:
            return SessionRecord(
                pid=pid,
                sid=data["sid"].decode(),
                namespace=data["ns"].decode(),
                owner=data["owner"].decode(),
                rooms=list(orjson.loads(data["rooms"])),
            )
        except (KeyError, ValueError, UnicodeDecodeError):
            return None

    async def entries(
        self, namespace: str, rooms: Collection[str], vector: dict[str, int], floor: int
    ) -> list[Entry] | None:
        from .redis_adapter import _decode_frames

        redis = self.broker.redis
        keys = [self._room_key(namespace, room) for room in rooms]
        async with redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.smembers(f"{key}:e")
            members = await pipe.execute()
        ranges: list[tuple[str, str]] = []
        async with redis.pipeline(transaction=False) as pipe:
            for key, emitters in zip(keys, members, strict=True):
                for raw in emitters:
                    emitter = raw.decode()
                    after = vector.get(emitter, floor)
                    ranges.append((emitter, key))
                    # Ids are "<seq>-0", so "<seq>-1" is the first id after that seq.
                    pipe.xrange(f"{key}:{emitter}", min=f"{after}-1", count=self.max_missed + 1)
            results = await pipe.execute() if ranges else []
        found: list[Entry] = []
        for (emitter, _key), rows in zip(ranges, results, strict=True):
            if len(rows) > self.max_missed:
                return None
            for stream_id, fields in rows:
                seq = int(stream_id.split(b"-", 1)[0])
                excluded = frozenset(orjson.loads(fields[b"x"]))
                frames = _decode_frames(memoryview(fields[b"f"]))
                found.append(Entry(emitter, seq, excluded, frames))
        return found


@dataclass(slots=True)
class Restored:
    """A session found for a reconnecting socket, its missed events still to read."""

    record: SessionRecord
    vector: dict[str, int]


class Recovery:
    """Per server: this process's emitter id and delivery vector, and the store."""

    def __init__(
        self,
        store: RecoveryStore,
        emitter: str | None = None,
    ) -> None:
        self.store = store
        self.window = store.window
        self.max_missed = store.max_missed
        self.emitter = emitter or secrets.token_hex(4)
        self._last_seq = 0
        self._vector: dict[str, int] = {}
        self._parts: dict[str, str] = {}
        self._suffix: bytes | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._period = min(_MAX_TOUCH_S, store.window / 4)
        #: Connected recoverable sessions of this process, by pid.
        self.live: dict[str, SessionRecord] = {}

    # ------------------------------------------------------------------ emits

    def stamp(
        self,
        namespace: str,
        frames: Sequence[bytes],
        rooms: Collection[str],
        excluded: frozenset[str],
    ) -> Origin:
        """Give an emit its sequence number and log it in each target room."""
        now = int(time.time() * 1_000_000)
        seq = now if now > self._last_seq else self._last_seq + 1
        self._last_seq = seq
        emitter = self.emitter
        self.store.append(namespace, rooms or ("",), emitter, seq, excluded, frames)
        return (emitter, seq)

    def deliverable(self, origin: Origin, frames: Sequence[bytes]) -> list[bytes]:
        """Advance the delivery vector past ``origin``; ``frames`` with the new offset."""
        emitter, seq = origin
        vector = self._vector
        if vector.get(emitter, 0) < seq:
            vector[emitter] = seq
            self._parts[emitter] = f"{emitter}:{seq:x}"
            self._suffix = None
        suffix = self._suffix
        if suffix is None:
            suffix = self._suffix = _offset_suffix(".".join(self._parts.values()))
        return with_offset(frames, suffix)

    # --------------------------------------------------------------- sessions

    def opened(self, record: SessionRecord) -> None:
        self.live[record.pid] = record
        self.store.save((record,))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._period, self._tick)

    def rooms_changed(self, record: SessionRecord, rooms: Iterable[str]) -> None:
        record.rooms = sorted(rooms)
        if record.pid in self.live:
            self.store.save((record,))

    def closed(self, record: SessionRecord, reason: str) -> None:
        if self.live.get(record.pid) is record:
            del self.live[record.pid]
        if reason in ENDING_REASONS:
            self.store.end(record)
        else:
            self.store.keep(record)

    def _tick(self) -> None:
        """Refresh the records of connected sessions; forget silent emitters."""
        self._timer = asyncio.get_running_loop().call_later(self._period, self._tick)
        try:
            self.store.save(self.live.values())
            self.store.sweep()
            horizon = int(time.time() * 1_000_000) - int(self.window * 1_000_000)
            horizon -= 2 * _ABSENT_MARGIN_US
            for emitter, seq in list(self._vector.items()):
                if seq < horizon:
                    del self._vector[emitter]
                    del self._parts[emitter]
                    self._suffix = None
        except Exception:
            log.exception("recovery housekeeping failed")

    # ---------------------------------------------------------------- restore

    async def find(self, namespace: str, pid: str, offset: str, owner: str) -> Restored | None:
        """The session ``pid`` if ``owner`` (set by the app's auth) matches; else None."""
        if not _PID_RE.fullmatch(pid):
            return None
        vector = parse_offset(offset)
        if vector is None:
            return None
        record = await self.store.load(pid)
        if record is None or record.namespace != namespace:
            return None
        if not secrets.compare_digest(record.owner.encode(), owner.encode()):
            return None
        return Restored(record, vector)

    async def missed(self, found: Restored) -> list[tuple[Origin, list[bytes]]] | None:
        """The events the session missed, in order, each with its replay offset;
        None when there are more than ``max_missed``."""
        vector = found.vector
        rooms = set(found.record.rooms)
        floor = max(vector.values(), default=0) - _ABSENT_MARGIN_US
        entries = await self.store.entries(found.record.namespace, [*rooms, ""], vector, floor)
        if entries is None:
            return None
        unique: dict[Origin, Entry] = {}
        for entry in entries:
            if entry.excluded and not entry.excluded.isdisjoint(rooms):
                continue
            unique[(entry.emitter, entry.seq)] = entry
        if len(unique) > self.max_missed:
            return None
        running = dict(vector)
        out: list[tuple[Origin, list[bytes]]] = []
        for origin in sorted(unique, key=lambda o: (o[1], o[0])):
            emitter, seq = origin
            if running.get(emitter, 0) < seq:
                running[emitter] = seq
            out.append(
                (origin, with_offset(unique[origin].frames, _offset_suffix(format_vector(running))))
            )
        return out

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        with contextlib.suppress(Exception):
            await self.store.close()


__all__ = [
    "ENDING_REASONS",
    "Entry",
    "MemoryRecoveryStore",
    "Recovery",
    "RecoveryStore",
    "RedisRecoveryStore",
    "Restored",
    "SessionRecord",
    "new_pid",
    "parse_offset",
]
