"""Usage-record queries with cursor pagination, newest first.

Access paths (no scans): by account (table key ``account_id`` + ``request_id``), by key (its account's
partition, filtered: a per-key index would cost every request a write unit), and across accounts by
day (index ``by_day``, sharded). Request ids start with their time, so a time range is a key range;
other filters (key, model, channel, status) are applied to the records of that range.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Protocol

from tollway.ids import request_id
from tollway.records import UsageRecord

__all__ = ["Page", "UsageFilter", "UsageReader", "decode_cursor", "encode_cursor", "id_bounds"]


@dataclass(frozen=True)
class UsageFilter:
    """What to read. Exactly one of ``account_id``/``key_id`` scopes the query (both: the key, checked
    against the account); neither means every account (operator only)."""

    account_id: str | None = None
    key_id: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    model: str | None = None
    channel_id: str | None = None
    status: str | None = None
    limit: int = 50
    cursor: str | None = None

    def matches(self, record: UsageRecord) -> bool:
        if self.account_id is not None and record.account_id != self.account_id:
            return False
        if self.key_id is not None and record.key_id != self.key_id:
            return False
        if self.start_ms is not None and record.created_at < self.start_ms:
            return False
        if self.end_ms is not None and record.created_at >= self.end_ms:
            return False
        if self.model is not None and record.model != self.model:
            return False
        if self.channel_id is not None and record.channel_id != self.channel_id:
            return False
        return self.status is None or record.status.value == self.status


@dataclass(frozen=True)
class Page:
    records: list[UsageRecord] = field(default_factory=list)
    next_cursor: str | None = None


class UsageReader(Protocol):
    def query(self, flt: UsageFilter) -> Page: ...

    def get(self, account_id: str, request_id: str) -> UsageRecord | None: ...


def id_bounds(start_ms: int | None, end_ms: int | None) -> tuple[str, str]:
    """Request-id bounds [low, high] covering a time range (ids begin with their millisecond time)."""
    low = "req_" if start_ms is None else request_id(start_ms)[:14]
    high = "req_~" if end_ms is None else request_id(max(end_ms - 1, 0))[:14] + "~"
    return low, high


def encode_cursor(position: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, object]:
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, json.JSONDecodeError) as exc:
        raise ValueError("invalid cursor") from exc
    if not isinstance(data, dict):
        raise ValueError("invalid cursor")
    return data
