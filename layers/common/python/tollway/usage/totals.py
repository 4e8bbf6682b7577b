"""Spend totals over usage records (the customers' balance views), through the one query module.

A total walks the records a :class:`~tollway.usage.query.UsageFilter` selects, page by page, newest
first, reading at most ``max_records`` of them: a key or account with more records in the range gets a
total marked incomplete (``complete=False``) rather than an unbounded read. Cost on DynamoDB: the
records' size in read units (≈ 0.5 RRU per 4 KB read, about 100 records of ~600 bytes a read unit).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tollway.usage.query import UsageFilter, UsageReader

__all__ = ["Spend", "spend"]

_PAGE = 1000


@dataclass
class Spend:
    """Micro-USD charged over the records read, in total and by UTC day and model."""

    total: int = 0
    records: int = 0
    complete: bool = True
    by_day: dict[str, dict[str, int]] = field(default_factory=dict)


def spend(reader: UsageReader, flt: UsageFilter, *, max_records: int) -> Spend:
    """Sum the charges of the records ``flt`` selects (its ``limit`` and ``cursor`` are ignored)."""
    out = Spend()
    cursor: str | None = None
    while True:
        page = reader.query(dataclasses.replace(flt, limit=min(_PAGE, max_records - out.records), cursor=cursor))
        for record in page.records:
            out.records += 1
            if record.charge:
                out.total += record.charge
                day = datetime.fromtimestamp(record.created_at / 1000, tz=UTC).strftime("%Y-%m-%d")
                models = out.by_day.setdefault(day, {})
                name = record.model or record.endpoint
                models[name] = models.get(name, 0) + record.charge
        cursor = page.next_cursor
        if cursor is None:
            return out
        if out.records >= max_records:
            out.complete = False
            return out
