"""Usage statistics per UTC day × model, account or channel, computed from the usage records.

Nothing is counted on the relay's hot path: stats read the records through the one query module
(``usage/query.py``: the ``by_day`` index across accounts, the table for one account, its partition
filtered for one key), so they cost reads when an operator asks, never writes when a customer calls.

Per row: requests (every record, refusals included), ok, errors (upstream failures and orphans),
refused, client_closed, the error rate = errors / (ok + errors + client_closed) — the share of the
calls that reached an upstream and failed —, input/output tokens, the prompt-cache columns (reads,
5-minute writes, 1-hour writes; writes without a TTL split count as 5-minute), the charge, and p50/p95 of latency
and of time to first token (nearest-rank percentiles over the calls that reached an upstream).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from tollway.money import format_usd
from tollway.records import RecordStatus, UsageRecord
from tollway.records_dynamo import day_of
from tollway.usage.query import UsageFilter, UsageReader

__all__ = ["Dimension", "StatsReport", "compute_stats", "percentile"]

Dimension = Literal["model", "account", "channel"]
_REACHED = frozenset({RecordStatus.OK, RecordStatus.ERROR, RecordStatus.CLIENT_CLOSED})
_FAILED = frozenset({RecordStatus.ERROR, RecordStatus.ORPHANED})


def percentile(values: list[int], p: int) -> int | None:
    """Nearest-rank percentile (p in 1..100) of ``values``; None for none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class _Row:
    requests: int = 0
    ok: int = 0
    errors: int = 0
    refused: int = 0
    client_closed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    charge: int = 0
    shortfall: int = 0
    latencies: list[int] = field(default_factory=list)
    ttfts: list[int] = field(default_factory=list)

    def add(self, record: UsageRecord) -> None:
        self.requests += 1
        status = record.status
        self.ok += status is RecordStatus.OK
        self.errors += status in _FAILED
        self.refused += status is RecordStatus.REFUSED
        self.client_closed += status is RecordStatus.CLIENT_CLOSED
        self.input_tokens += int(record.tokens.get("input", 0))
        self.output_tokens += int(record.tokens.get("output", 0))
        writes_1h = int(record.tokens.get("cache_write_1h", 0))
        self.cache_read_tokens += int(record.tokens.get("cached", 0))
        self.cache_write_5m_tokens += int(record.tokens.get("cache_write", 0)) - writes_1h
        self.cache_write_1h_tokens += writes_1h
        self.charge += record.charge
        self.shortfall += record.shortfall
        if status in _REACHED and record.latency_ms is not None:
            self.latencies.append(record.latency_ms)
        if status in _REACHED and record.ttft_ms is not None:
            self.ttfts.append(record.ttft_ms)

    def to_json(self) -> dict[str, Any]:
        reached = self.ok + self.errors + self.client_closed
        rate = None if reached == 0 else str((Decimal(self.errors) / Decimal(reached)).quantize(Decimal("0.0001")))
        return {
            "requests": self.requests,
            "ok": self.ok,
            "errors": self.errors,
            "refused": self.refused,
            "client_closed": self.client_closed,
            "error_rate": rate,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "tokens": self.input_tokens + self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_5m_tokens": self.cache_write_5m_tokens,
            "cache_write_1h_tokens": self.cache_write_1h_tokens,
            "charge": self.charge,
            "charge_usd": format_usd(self.charge),
            "shortfall": self.shortfall,
            "latency_p50_ms": percentile(self.latencies, 50),
            "latency_p95_ms": percentile(self.latencies, 95),
            "ttft_p50_ms": percentile(self.ttfts, 50),
            "ttft_p95_ms": percentile(self.ttfts, 95),
        }


@dataclass
class StatsReport:
    by: Dimension
    rows: list[dict[str, Any]]
    totals: dict[str, Any]
    records: int
    truncated: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "records": self.records,
            "truncated": self.truncated,
            "totals": self.totals,
            "rows": self.rows,
        }


def _value(record: UsageRecord, by: Dimension) -> str:
    if by == "model":
        return record.model or "(none)"
    if by == "account":
        return record.account_id
    return record.channel_id or "(none)"


def _records(reader: UsageReader, flt: UsageFilter) -> Iterator[UsageRecord]:
    cursor: str | None = None
    while True:
        page = reader.query(UsageFilter(**{**flt.__dict__, "cursor": cursor, "limit": 1000}))
        yield from page.records
        cursor = page.next_cursor
        if cursor is None:
            return


def compute_stats(
    reader: UsageReader,
    *,
    start_ms: int,
    end_ms: int,
    by: Dimension,
    account_id: str | None = None,
    key_id: str | None = None,
    max_records: int = 500_000,
) -> StatsReport:
    """Aggregate the records of ``[start_ms, end_ms)`` per (UTC day, ``by``), newest day first."""
    rows: dict[tuple[str, str], _Row] = {}
    total = _Row()
    count = 0
    truncated = False
    flt = UsageFilter(account_id=account_id, key_id=key_id, start_ms=start_ms, end_ms=end_ms)
    for record in _records(reader, flt):
        if count >= max_records:
            truncated = True
            break
        count += 1
        rows.setdefault((day_of(record.created_at), _value(record, by)), _Row()).add(record)
        total.add(record)
    ordered = sorted(rows.items(), key=lambda item: (item[0][0], -item[1].charge, item[0][1]))
    ordered.sort(key=lambda item: item[0][0], reverse=True)  # stable: newest day first, dearest first
    out = [{"day": day, by: value, **row.to_json()} for (day, value), row in ordered]
    return StatsReport(by=by, rows=out, totals=total.to_json(), records=count, truncated=truncated)
