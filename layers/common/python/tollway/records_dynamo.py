"""Usage records and ledger entries as DynamoDB items."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tollway.dynamo import AttrValue
from tollway.ledger.model import EntryKind, LedgerEntry
from tollway.records import RecordStatus, UsageRecord

__all__ = ["day_of", "day_shard", "entry_to_item", "item_to_entry", "item_to_record", "record_to_item"]

_OPTIONAL_STR = (
    "key_id",
    "model",
    "upstream_model",
    "channel_id",
    "error_code",
    "usage_source",
    "format",
    "service_tier",
    "group",
    "task_id",
)
_OPTIONAL_NUM = ("latency_ms", "ttft_ms", "debit")


_DAY_MS = 86_400_000
# The last day asked for, as (its first ms, the next day's first ms, "YYYY-MM-DD"): every record of a
# request names its day, and nearly all of them fall on the same one. One tuple, swapped whole.
_last_day: tuple[int, int, str] = (0, 0, "")


def day_of(created_at_ms: int) -> str:
    """The UTC day of a time in ms since the epoch, ``YYYY-MM-DD``."""
    global _last_day
    start, end, day = _last_day
    if start <= created_at_ms < end:
        return day
    start = created_at_ms - created_at_ms % _DAY_MS  # a UTC day is always 86,400,000 ms (no leap seconds)
    day = datetime.fromtimestamp(start / 1000, tz=UTC).strftime("%Y-%m-%d")
    _last_day = (start, start + _DAY_MS, day)
    return day


def day_shard(record: UsageRecord, shards: int) -> str:
    """``YYYY-MM-DD#n``: one day's records spread over ``shards`` index partitions."""
    shard = int.from_bytes(hashlib.blake2b(record.request_id.encode(), digest_size=2).digest(), "big") % shards
    return f"{day_of(record.created_at)}#{shard}"


def record_to_item(record: UsageRecord, *, shards: int, ttl_days: int) -> dict[str, AttrValue]:
    item: dict[str, AttrValue] = {
        "account_id": {"S": record.account_id},
        "request_id": {"S": record.request_id},
        "created_at": {"N": str(record.created_at)},
        "endpoint": {"S": record.endpoint},
        "status": {"S": record.status.value},
        "http_status": {"N": str(record.http_status)},
        "stream": {"BOOL": record.stream},
        "hold": {"N": str(record.hold)},
        "charge": {"N": str(record.charge)},
        "shortfall": {"N": str(record.shortfall)},
        "attempts": {"N": str(record.attempts)},
        "day_shard": {"S": day_shard(record, shards)},
    }
    for name in _OPTIONAL_STR:
        value = getattr(record, name)
        if value is not None:
            item[name] = {"S": value}
    for name in _OPTIONAL_NUM:
        value = getattr(record, name)
        if value is not None:
            item[name] = {"N": str(value)}
    if record.tokens:
        item["tokens"] = {"M": {k: {"N": str(v)} for k, v in record.tokens.items()}}
    if record.units:
        item["units"] = {"M": {k: _to_attr(v) for k, v in record.units.items()}}
    if record.entry_ids:
        item["entry_ids"] = {"L": [{"S": e} for e in record.entry_ids]}
    if record.price_basis:
        item["price_basis"] = {"M": {k: {"S": v} for k, v in record.price_basis.items()}}
    if ttl_days > 0:
        item["expires_at"] = {"N": str(record.created_at // 1000 + ttl_days * 86400)}
    return item


def _to_attr(value: Any) -> AttrValue:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, dict):
        return {"M": {k: _to_attr(v) for k, v in value.items()}}
    if isinstance(value, list):
        return {"L": [_to_attr(v) for v in value]}
    return {"S": str(value)}


def _from_attr(value: AttrValue) -> Any:
    if "S" in value:
        return value["S"]
    if "N" in value:
        return int(value["N"])
    if "BOOL" in value:
        return value["BOOL"]
    if "M" in value:
        return {k: _from_attr(v) for k, v in value["M"].items()}
    if "L" in value:
        return [_from_attr(v) for v in value["L"]]
    return None


def item_to_record(item: Mapping[str, Any]) -> UsageRecord:
    kwargs: dict[str, Any] = {name: item[name]["S"] for name in _OPTIONAL_STR if name in item}
    kwargs.update({name: int(item[name]["N"]) for name in _OPTIONAL_NUM if name in item})
    return UsageRecord(
        request_id=item["request_id"]["S"],
        created_at=int(item["created_at"]["N"]),
        account_id=item["account_id"]["S"],
        endpoint=item["endpoint"]["S"],
        status=RecordStatus(item["status"]["S"]),
        http_status=int(item["http_status"]["N"]),
        stream=bool(item.get("stream", {}).get("BOOL", False)),
        hold=int(item["hold"]["N"]),
        charge=int(item["charge"]["N"]),
        shortfall=int(item["shortfall"]["N"]),
        attempts=int(item.get("attempts", {"N": "0"})["N"]),
        tokens={k: int(v["N"]) for k, v in item.get("tokens", {}).get("M", {}).items()},
        units={k: _from_attr(v) for k, v in item.get("units", {}).get("M", {}).items()},
        entry_ids=tuple(e["S"] for e in item.get("entry_ids", {}).get("L", [])),
        price_basis={k: v["S"] for k, v in item.get("price_basis", {}).get("M", {}).items()},
        **kwargs,
    )


def entry_to_item(entry: LedgerEntry) -> dict[str, AttrValue]:
    item: dict[str, AttrValue] = {
        "account_id": {"S": entry.account_id},
        "entry_id": {"S": entry.entry_id},
        "kind": {"S": entry.kind.value},
        "amount": {"N": str(entry.amount)},
        "movement_id": {"S": entry.movement_id},
        "created_at": {"N": str(entry.created_at)},
        "reason": {"S": entry.reason},
    }
    if entry.actor is not None:
        item["actor"] = {"S": entry.actor}
    if entry.key_id is not None:
        item["key_id"] = {"S": entry.key_id}
    return item


def item_to_entry(item: Mapping[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        account_id=item["account_id"]["S"],
        entry_id=item["entry_id"]["S"],
        kind=EntryKind(item["kind"]["S"]),
        amount=int(item["amount"]["N"]),
        movement_id=item["movement_id"]["S"],
        created_at=int(item["created_at"]["N"]),
        reason=item["reason"]["S"],
        actor=item.get("actor", {}).get("S"),
        key_id=item.get("key_id", {}).get("S"),
    )
