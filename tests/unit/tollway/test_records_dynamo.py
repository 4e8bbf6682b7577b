"""tollway.records_dynamo: the day a record belongs to (its usage index shard names it)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from tollway.records_dynamo import day_of


def _reference(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def test_day_of_turns_at_utc_midnight() -> None:
    midnight = int(datetime(2026, 12, 7, tzinfo=UTC).timestamp() * 1000)
    assert day_of(midnight - 1) == "2026-12-06"
    assert day_of(midnight) == "2026-12-07"
    assert day_of(midnight - 1) == "2026-12-06"  # back again: the remembered day is not reused blindly
    assert day_of(midnight + 86_400_000 - 1) == "2026-12-07"
    assert day_of(midnight + 86_400_000) == "2026-12-08"
    assert day_of(0) == "1970-01-01"


def test_day_of_matches_the_calendar_in_any_order() -> None:
    rng = random.Random(7)
    times = [rng.randrange(0, 4_102_444_800_000) for _ in range(2_000)]  # 1970 to 2100
    times += [t + rng.randrange(-5, 5) for t in times[:200]]  # neighbours of earlier ones
    for ms in times:
        assert day_of(ms) == _reference(ms), ms
