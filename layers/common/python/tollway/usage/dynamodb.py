"""Usage queries on DynamoDB: Query on the table or an index, never a Scan."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tollway.dynamo import S, retry_store
from tollway.records import UsageRecord
from tollway.records_dynamo import item_to_record
from tollway.usage.query import Page, UsageFilter, decode_cursor, encode_cursor, id_bounds

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DynamoUsage"]

_MAX_ITEMS_READ = 5_000  # per page, when filters discard records


class DynamoUsage:
    def __init__(self, client: DynamoDBClient, table: str, *, shards: int, keys_table: str | None = None) -> None:
        self._c = client
        self._table = table
        self._shards = shards
        self._keys_table = keys_table

    def get(self, account_id: str, request_id: str) -> UsageRecord | None:
        item = retry_store(
            lambda: self._c.get_item(
                TableName=self._table, Key={"account_id": S(account_id), "request_id": S(request_id)}
            )
        ).get("Item")
        return None if item is None else item_to_record(item)

    def query(self, flt: UsageFilter) -> Page:
        if flt.account_id is None and flt.key_id is None:
            return self._query_days(flt)
        account_id = flt.account_id
        if account_id is None:
            account_id = self._account_of_key(str(flt.key_id))
            if account_id is None:
                return Page([], None)
        low, high = id_bounds(flt.start_ms, flt.end_ms)
        # One account's partition; a key's records are that partition filtered by key (no per-key index:
        # it would cost every request a write unit — see template.yaml).
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "account_id = :h AND request_id BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {":h": S(account_id), ":lo": S(low), ":hi": S(high)},
            "ScanIndexForward": False,
        }
        start_key = decode_cursor(flt.cursor).get("key") if flt.cursor else None
        return self._collect(kwargs, flt, start_key)

    def _account_of_key(self, key_id: str) -> str | None:
        """The account a key belongs to (the keys table's ``by_key_id`` index), for a query by key alone."""
        keys_table = self._keys_table
        if keys_table is None:
            raise ValueError("A query by key needs the account too.")
        response = retry_store(
            lambda: self._c.query(
                TableName=keys_table,
                IndexName="by_key_id",
                KeyConditionExpression="key_id = :k",
                ExpressionAttributeValues={":k": S(key_id)},
            )
        )
        # The index holds keys only (key_id → key_hash); a rotated key's old hash may linger in it briefly.
        for found in response.get("Items", []):
            read = functools.partial(
                self._c.get_item,
                TableName=keys_table,
                Key={"key_hash": found["key_hash"]},
                ProjectionExpression="account_id",
            )
            item = retry_store(read).get("Item")
            if item is not None:
                return str(item["account_id"]["S"])
        return None

    def _collect(self, kwargs: dict[str, Any], flt: UsageFilter, start_key: object) -> Page:
        records: list[UsageRecord] = []
        read = 0
        while True:
            call = dict(kwargs, Limit=max(flt.limit - len(records), 1) if not _filtered(flt) else 200)
            if start_key:
                call["ExclusiveStartKey"] = start_key
            response = retry_store(functools.partial(self._c.query, **call))
            items = response.get("Items", [])
            read += len(items)
            last_key = response.get("LastEvaluatedKey")
            for position, item in enumerate(items):
                record = item_to_record(item)
                if flt.matches(record):
                    records.append(record)
                    if len(records) == flt.limit:
                        more = position + 1 < len(items) or last_key is not None
                        cursor_key = _key_of(item, kwargs) if more else None
                        return Page(records, encode_cursor({"key": cursor_key}) if cursor_key else None)
            if last_key is None:
                return Page(records, None)
            start_key = last_key
            if read >= _MAX_ITEMS_READ:
                return Page(records, encode_cursor({"key": last_key}))

    def _query_days(self, flt: UsageFilter) -> Page:
        """Every account, newest first, walking the sharded by-day index one day at a time."""
        end = datetime.fromtimestamp((flt.end_ms or _now_ms()) / 1000, tz=UTC)
        start = datetime.fromtimestamp((flt.start_ms or (flt.end_ms or _now_ms()) - 7 * 86_400_000) / 1000, tz=UTC)
        position = decode_cursor(flt.cursor) if flt.cursor else {}
        day = datetime.strptime(str(position["day"]), "%Y-%m-%d").replace(tzinfo=UTC) if "day" in position else end
        after = str(position.get("after", "req_~"))
        low, high = id_bounds(flt.start_ms, flt.end_ms)
        records: list[UsageRecord] = []
        while day.date() >= start.date():
            day_text = day.strftime("%Y-%m-%d")
            day_records: list[UsageRecord] = []
            for shard in range(self._shards):
                kwargs: dict[str, Any] = {
                    "TableName": self._table,
                    "IndexName": "by_day",
                    "KeyConditionExpression": "day_shard = :d AND request_id BETWEEN :lo AND :hi",
                    "ExpressionAttributeValues": {
                        ":d": S(f"{day_text}#{shard}"),
                        ":lo": S(low),
                        ":hi": S(min(high, after)),
                    },
                    "ScanIndexForward": False,
                }
                page = self._collect(kwargs, UsageFilter(**{**flt.__dict__, "cursor": None, "limit": flt.limit}), None)
                day_records.extend(r for r in page.records if r.request_id < after)
            day_records.sort(key=lambda r: r.request_id, reverse=True)
            need = flt.limit - len(records)
            records.extend(day_records[:need])
            if len(records) >= flt.limit:
                last = records[-1].request_id
                return Page(records, encode_cursor({"day": day_text, "after": last}))
            day -= timedelta(days=1)
            after = "req_~"
        return Page(records, None)


def _filtered(flt: UsageFilter) -> bool:
    return any(v is not None for v in (flt.key_id, flt.model, flt.channel_id, flt.status))


def _key_of(item: dict[str, Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    key = {"account_id": item["account_id"], "request_id": item["request_id"]}
    if kwargs.get("IndexName") == "by_day":
        key["day_shard"] = item["day_shard"]
    return key


def _now_ms() -> int:
    return int(datetime.now(tz=UTC).timestamp() * 1000)
