"""Merge stage: the workers' raw trial records into one account of the deliveries.

Each worker returns packed arrays (``collect``): the keys and latencies of what
its sockets received, the acks of what they sent, and how many times each of
its own sends should be delivered. Every ``(proc, seq)`` key must arrive
exactly ``expected[seq]`` times; fewer is loss, more is duplication.
"""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from loadtest.worker import KEY_SHIFT


@dataclass
class Merged:
    """All workers' records of one trial; latencies in seconds, sorted."""

    delivered: int = 0
    lost: int = 0
    duplicates: int = 0
    # Deliveries of an earlier trial's sends that arrived during this one.
    late: int = 0
    latencies: list[float] = field(default_factory=list)
    ack_latencies: list[float] = field(default_factory=list)
    # Latencies by the second (since the first worker's t0) the message was sent in.
    by_second: dict[int, list[float]] = field(default_factory=dict)
    acks_by_second: Counter[int] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


def _floats(raw: bytes) -> array[float]:
    a = array("d")
    a.frombytes(raw)
    return a


def merge(parts: list[dict[str, Any]]) -> Merged:
    """One trial's ``collect`` replies (one per worker) merged and checked against expectations."""
    m = Merged()
    got: Counter[int] = Counter()
    t0 = min(part["t0"] for part in parts)
    for part in parts:
        keys = array("q")
        keys.frombytes(part["rx_keys"])
        got.update(keys)
        latencies = _floats(part["rx_lat"])
        m.latencies.extend(latencies)
        for latency, sent_at in zip(latencies, _floats(part["rx_sent_at"]), strict=True):
            m.by_second.setdefault(int(sent_at - t0), []).append(latency)
        m.ack_latencies.extend(_floats(part["ack_lat"]))
        m.acks_by_second.update(int(t - t0) for t in _floats(part["ack_at"]))
        m.statuses.update(part["rx_status"])
        m.errors.update(part["errors"])
        m.late += part["late"]
    for part in parts:
        expected = array("B")
        expected.frombytes(part["expected"])
        base = part["proc"] << KEY_SHIFT
        for seq, want in enumerate(expected):
            have = got.pop(base | seq, 0)
            m.delivered += min(want, have)
            if have < want:
                m.lost += want - have
            elif have > want:
                m.duplicates += have - want
    m.duplicates += sum(got.values())  # deliveries of keys never sent in this trial
    m.latencies.sort()
    m.ack_latencies.sort()
    return m
