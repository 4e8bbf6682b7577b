"""Which channel holds a stored Responses answer, and whose it is.

OpenAI keeps a response (``store`` defaults to true) on the upstream account that produced it, so a
later ``GET``/``DELETE /v1/responses/{id}`` or a request with ``previous_response_id`` must reach the
same channel — and, since every customer of a channel shares its upstream key, must be refused for
anyone but the account that created it. One small item per stored response records both, plus the
response's token counts, which bound the input of a continuation (its input is the earlier input and
output plus whatever the new request adds).

Storage: the item lives in ``UsageTable`` next to the account's usage records — partition key
``account_id`` (so a lookup by another account cannot find it), sort key ``request_id`` =
``"rsp#" + response id`` (outside the ``req_…`` range every usage query reads) — with no ``key_id`` or
``day_shard`` attribute, so neither index sees it, and ``expires_at`` set for DynamoDB's TTL (OpenAI
keeps responses 30 days; the default here is 31). A delete writes a tombstone (the relay's role may
put and read history items, not delete them). Cost: one put (≤ 1 WCU) per stored response, one
consistent get (1 RCU) per GET, DELETE or continuation, one put per DELETE; TTL deletion is free. No
extra table and no IAM change.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tollway.dynamo import N, S, num, opt_str, retry_store

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DynamoResponseStore", "MemoryResponseStore", "ResponseStore", "StoredResponse", "sort_key"]

_PREFIX = "rsp#"


def sort_key(response_id: str) -> str:
    """The item's sort key: never inside the ``req_`` range the usage queries read."""
    return _PREFIX + response_id


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """A response tollway relayed and the upstream stored."""

    response_id: str
    account_id: str
    channel_id: str
    model: str  # the model the customer asked for
    request_id: str  # the request that created it (its usage record)
    created_at: int  # epoch ms
    input_tokens: int = 0
    output_tokens: int = 0
    key_id: str | None = None

    @property
    def context_tokens(self) -> int:
        """What a continuation inherits at most: the earlier input and output."""
        return self.input_tokens + self.output_tokens


class ResponseStore(Protocol):
    def put(self, item: StoredResponse, ttl_days: int) -> None:
        """Remember a stored response (repeat-safe: the same item is written again)."""

    def get(self, account_id: str, response_id: str) -> StoredResponse | None:
        """The account's stored response, or None (unknown, expired, or another account's)."""

    def delete(self, account_id: str, response_id: str) -> None:
        """Forget a response (no-op if unknown)."""


class MemoryResponseStore:
    """:class:`ResponseStore` in memory (unit tests, in-memory services)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str], StoredResponse] = {}

    def put(self, item: StoredResponse, ttl_days: int) -> None:
        with self._lock:
            self._items[(item.account_id, item.response_id)] = item

    def get(self, account_id: str, response_id: str) -> StoredResponse | None:
        with self._lock:
            return self._items.get((account_id, response_id))

    def delete(self, account_id: str, response_id: str) -> None:
        with self._lock:
            self._items.pop((account_id, response_id), None)


class DynamoResponseStore:
    """:class:`ResponseStore` on DynamoDB (items in the usage table, see the module docstring)."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._c = client
        self._table = table

    def put(self, item: StoredResponse, ttl_days: int) -> None:
        attrs: dict[str, Any] = {
            "account_id": S(item.account_id),
            "request_id": S(sort_key(item.response_id)),
            "kind": S("stored_response"),
            "response_id": S(item.response_id),
            "channel_id": S(item.channel_id),
            "model": S(item.model),
            "origin_request_id": S(item.request_id),
            "created_at": N(item.created_at),
            "input_tokens": N(item.input_tokens),
            "output_tokens": N(item.output_tokens),
            "expires_at": N(item.created_at // 1000 + ttl_days * 86_400),
        }
        if item.key_id is not None:
            attrs["owner_key_id"] = S(item.key_id)  # not "key_id": a usage query by key must never match it
        # Unconditional put: the item is a pure function of the response, so a repeat rewrites the same.
        retry_store(lambda: self._c.put_item(TableName=self._table, Item=attrs))

    def get(self, account_id: str, response_id: str) -> StoredResponse | None:
        found: dict[str, Any] | None = retry_store(
            lambda: self._c.get_item(
                TableName=self._table,
                Key={"account_id": S(account_id), "request_id": S(sort_key(response_id))},
                # strongly consistent: a continuation may follow its response within milliseconds
                ConsistentRead=True,
            )
        ).get("Item")
        if found is None or found.get("kind", {}).get("S") != "stored_response":
            return None
        # TTL deletion lags by up to days: an expired item is as good as gone (OpenAI dropped it too).
        if num(found, "expires_at") < time.time():
            return None
        return StoredResponse(
            response_id=found["response_id"]["S"],
            account_id=found["account_id"]["S"],
            channel_id=found["channel_id"]["S"],
            model=found["model"]["S"],
            request_id=found["origin_request_id"]["S"],
            created_at=num(found, "created_at"),
            input_tokens=num(found, "input_tokens"),
            output_tokens=num(found, "output_tokens"),
            key_id=opt_str(found, "owner_key_id"),
        )

    def delete(self, account_id: str, response_id: str) -> None:
        # A tombstone, not a DeleteItem: the relay's role may put and read history items but never
        # delete them; TTL removes the tombstone a day later.
        tombstone = {
            "account_id": S(account_id),
            "request_id": S(sort_key(response_id)),
            "kind": S("deleted_response"),
            "expires_at": N(int(time.time()) + 86_400),
        }
        retry_store(lambda: self._c.put_item(TableName=self._table, Item=tombstone))
