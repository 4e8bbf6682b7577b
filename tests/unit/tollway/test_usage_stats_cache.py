"""Usage stats carry the prompt-cache columns (reads, 5-minute writes, 1-hour writes)."""

from __future__ import annotations

from tollway.records import RecordStatus, UsageRecord
from tollway.usage.stats import _Row


def test_stats_rows_carry_the_cache_columns() -> None:
    row = _Row()
    for tokens in ({"input": 900, "cached": 400, "cache_write": 300, "cache_write_1h": 100, "output": 7}, {"input": 5}):
        row.add(UsageRecord("r", 0, "a", "k", "messages", RecordStatus.OK, 200, tokens=tokens))
    out = row.to_json()
    assert (out["cache_read_tokens"], out["cache_write_5m_tokens"], out["cache_write_1h_tokens"]) == (400, 200, 100)
