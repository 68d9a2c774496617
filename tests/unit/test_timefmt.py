"""The contract's timestamp format, whatever the datetime's zone or fraction."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from chatr_server.util.timefmt import iso_ms, parse_iso


def reference(value: datetime) -> str:
    """The format spelled out with strftime (slow, obviously right)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def test_iso_ms_matches_the_reference_on_every_kind_of_value() -> None:
    rng = random.Random(17)
    zones = [
        UTC,  # what asyncpg returns (timezone.utc)
        timezone(timedelta(hours=5, minutes=30)),
        timezone(-timedelta(hours=8)),
        None,
    ]
    start = datetime(1970, 1, 1)
    for _ in range(2_000):
        moment = start + timedelta(seconds=rng.randrange(0, 4_000_000_000))
        micro = rng.choice([0, 999, 1_000, 123_456, 999_999, rng.randrange(1_000_000)])
        value = moment.replace(microsecond=micro, tzinfo=rng.choice(zones))
        assert iso_ms(value) == reference(value), value


def test_iso_ms_edges() -> None:
    assert iso_ms(None) is None
    assert iso_ms(datetime(2026, 3, 5, 14, 7, 9, tzinfo=UTC)) == "2026-03-05T14:07:09.000Z"
    assert iso_ms(datetime(2026, 3, 5, 14, 7, 9, 999_999, tzinfo=UTC)) == "2026-03-05T14:07:09.999Z"
    late = datetime(2026, 12, 31, 23, 30, tzinfo=timezone(-timedelta(hours=1)))
    assert iso_ms(late) == "2027-01-01T00:30:00.000Z"
    assert parse_iso(iso_ms(late)) == late
