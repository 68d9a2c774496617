"""Room membership and broadcast fan-out, behind an interface a Redis adapter can implement.

One adapter instance serves one namespace (as in the reference server). Broadcasts take
pre-encoded Engine.IO frames, so a packet is encoded exactly once per broadcast: a
multi-process adapter can publish the same frames and every process writes them as is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .server import Namespace

_EMPTY: frozenset[str] = frozenset()


class Adapter(ABC):
    """Fan-out and room bookkeeping for one namespace."""

    def __init__(self, namespace: Namespace) -> None:
        self.namespace = namespace

    @abstractmethod
    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        """Make ``sid`` a member of ``rooms``."""

    @abstractmethod
    def delete(self, sid: str, room: str) -> None:
        """Remove ``sid`` from ``room``."""

    @abstractmethod
    def delete_all(self, sid: str) -> None:
        """Remove ``sid`` from every room (on disconnect)."""

    @abstractmethod
    def broadcast(
        self,
        frames: Sequence[bytes],
        rooms: Collection[str] = _EMPTY,
        except_rooms: Collection[str] = _EMPTY,
        except_sids: Collection[str] = _EMPTY,
        origin: tuple[str, int] | None = None,
    ) -> None:
        """Send ``frames`` to members of any of ``rooms`` (everyone if empty), minus the
        members of ``except_rooms`` and ``except_sids``. Must not block.

        ``origin`` (emitter, seq) marks a recoverable emit: each recipient gets the frames
        with this process's recovery offset appended (computed once per broadcast)."""

    @abstractmethod
    def sockets(self, rooms: Collection[str] = _EMPTY) -> set[str]:
        """Local socket ids in any of ``rooms`` (all local sockets if empty)."""

    @abstractmethod
    def socket_rooms(self, sid: str) -> set[str]:
        """Rooms ``sid`` belongs to (empty set if unknown)."""

    def room_size(self, room: str) -> int:
        """Number of local members of ``room``."""
        return len(self.sockets((room,)))

    async def fetch_sids(self, rooms: Collection[str] = _EMPTY) -> set[str]:
        """Cluster-wide membership; a multi-process adapter overrides this."""
        return self.sockets(rooms)

    def sockets_leave(self, rooms: Collection[str], leave: Collection[str]) -> None:
        """Every socket in any of ``rooms`` leaves the rooms ``leave``, on every process.

        A multi-process adapter overrides this to also tell the other processes.
        """
        self.leave_local(rooms, leave)

    def disconnect_sockets(self, rooms: Collection[str]) -> None:
        """Close the connection of every socket in any of ``rooms``, on every process."""
        self.disconnect_local(rooms)

    def leave_local(self, rooms: Collection[str], leave: Collection[str]) -> None:
        """:meth:`sockets_leave` for this process's sockets only."""
        if not rooms:
            raise ValueError("sockets_leave needs at least one room to select sockets")
        for sid in self.sockets(rooms):
            for room in leave:
                self.delete(sid, room)

    def disconnect_local(self, rooms: Collection[str]) -> None:
        """:meth:`disconnect_sockets` for this process's sockets only."""
        if not rooms:
            raise ValueError("disconnect_sockets needs at least one room to select sockets")
        sockets = self.namespace.sockets
        for sid in self.sockets(rooms):
            sock = sockets.get(sid)
            if sock is not None:
                sock.disconnect(close=True)

    def subscribed(self) -> Awaitable[None] | None:
        """None when messages for every room joined so far reach this process, else an
        awaitable done once they do (a multi-process adapter subscribes asynchronously)."""
        return None

    async def close(self) -> None:  # noqa: B027 - optional hook, no-op by default
        """Release resources (connections, subscriptions)."""


AdapterFactory = Callable[["Namespace"], Adapter]


class InProcessAdapter(Adapter):
    """Single-process adapter: two dicts of sets, room → sids and sid → rooms."""

    def __init__(self, namespace: Namespace) -> None:
        super().__init__(namespace)
        self.rooms: dict[str, set[str]] = {}
        self.sids: dict[str, set[str]] = {}

    def add_all(self, sid: str, rooms: Iterable[str]) -> None:
        joined = self.sids.get(sid)
        if joined is None:
            joined = self.sids[sid] = set()
        for room in rooms:
            joined.add(room)
            members = self.rooms.get(room)
            if members is None:
                self.rooms[room] = {sid}
            else:
                members.add(sid)

    def delete(self, sid: str, room: str) -> None:
        joined = self.sids.get(sid)
        if joined is not None:
            joined.discard(room)
        members = self.rooms.get(room)
        if members is not None:
            members.discard(sid)
            if not members:
                del self.rooms[room]

    def delete_all(self, sid: str) -> None:
        joined = self.sids.pop(sid, None)
        if not joined:
            return
        for room in joined:
            members = self.rooms.get(room)
            if members is not None:
                members.discard(sid)
                if not members:
                    del self.rooms[room]

    def _targets(self, rooms: Collection[str]) -> Iterable[str]:
        if not rooms:
            return self.sids
        if len(rooms) == 1:
            for room in rooms:
                return self.rooms.get(room, _EMPTY)
        found: set[str] = set()
        for room in rooms:
            members = self.rooms.get(room)
            if members:
                found |= members
        return found

    def broadcast(
        self,
        frames: Sequence[bytes],
        rooms: Collection[str] = _EMPTY,
        except_rooms: Collection[str] = _EMPTY,
        except_sids: Collection[str] = _EMPTY,
        origin: tuple[str, int] | None = None,
    ) -> None:
        if origin is not None:
            recovery = self.namespace.server.recovery
            if recovery is not None:
                frames = recovery.deliverable(origin, frames)
        excluded: Collection[str] = except_sids
        if except_rooms:
            excluded = set(except_sids)
            for room in except_rooms:
                excluded |= self.rooms.get(room, _EMPTY)
        sockets = self.namespace.sockets
        # Snapshot: a send may close a session (queue overflow) and mutate the sets.
        for sid in tuple(self._targets(rooms)):
            if sid in excluded:
                continue
            sock = sockets.get(sid)
            if sock is not None:
                sock._send(frames, origin)

    def sockets(self, rooms: Collection[str] = _EMPTY) -> set[str]:
        return set(self._targets(rooms))

    def socket_rooms(self, sid: str) -> set[str]:
        return set(self.sids.get(sid, _EMPTY))

    def room_size(self, room: str) -> int:
        return len(self.rooms.get(room, _EMPTY))
