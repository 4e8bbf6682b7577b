"""The console table as a small item store: DynamoDB (``ConsoleTable``) or memory (unit tests).

Items are keyed ``(pk, sk)`` and hold strings, integers and booleans. Every write that must happen once
is conditional; ``create`` is all-or-nothing (a DynamoDB transaction).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from tollway.dynamo import N, S, TransactionCancelled, error_code, retry_store, transact

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["Claim", "ConditionFailed", "DynamoItems", "Item", "Items", "MemoryItems"]

Value = str | int | bool
Item = dict[str, Value]


class ConditionFailed(Exception):
    """A conditional write found the item not as required; ``index`` says which part of a ``create``."""

    def __init__(self, index: int = 0) -> None:
        super().__init__(f"condition {index} failed")
        self.index = index


@dataclass(frozen=True)
class Claim:
    """Part of a ``create``: item ``(pk, sk)`` must exist with ``attribute == expected``; ``updates`` are set."""

    pk: str
    sk: str
    attribute: str
    expected: Value
    updates: Mapping[str, Value] = field(default_factory=dict)


class Items(Protocol):
    def get(self, pk: str, sk: str) -> Item | None: ...

    def create(self, items: list[tuple[str, str, Item]], claim: Claim | None = None) -> None:
        """Put every item (none may exist yet) and apply ``claim``, all or nothing.

        Raises:
            ConditionFailed: an item existed (index in ``items``) or the claim failed (index ``len(items)``).
        """

    def put(self, pk: str, sk: str, item: Item) -> None: ...

    def update(self, pk: str, sk: str, changes: Item) -> None:
        """Set attributes of an existing item. Raises ConditionFailed if it does not exist."""

    def take(self, pk: str, sk: str) -> Item | None:
        """Delete the item and return it (None if there was none): only one caller ever gets it."""

    def count(self, pk: str, sk: str, limit: int, expires_at: int) -> bool:
        """Add one to the item's counter unless it has reached ``limit``; True if counted."""

    def newest(self, pk: str, limit: int) -> list[Item]:
        """Items of one partition, highest sort key first."""


def _attr(value: Value) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return N(value)
    return S(value)


def _plain(item: Mapping[str, Any]) -> Item:
    out: Item = {}
    for name, value in item.items():
        if "S" in value:
            out[name] = value["S"]
        elif "N" in value:
            out[name] = int(value["N"])
        elif "BOOL" in value:
            out[name] = bool(value["BOOL"])
    return out


class DynamoItems:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._c = client
        self._t = table

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {"pk": S(pk), "sk": S(sk)}

    def get(self, pk: str, sk: str) -> Item | None:
        found = retry_store(lambda: self._c.get_item(TableName=self._t, Key=self._key(pk, sk), ConsistentRead=True))
        item = found.get("Item")
        return None if item is None else _plain(item)

    def create(self, items: list[tuple[str, str, Item]], claim: Claim | None = None) -> None:
        writes: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._t,
                    "Item": {**self._key(pk, sk), **{k: _attr(v) for k, v in item.items()}},
                    # the item is new (an e-mail address or account gets one login, ever)
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
            for pk, sk, item in items
        ]
        if claim is not None:
            names = {"#c": claim.attribute, **{f"#u{i}": k for i, k in enumerate(claim.updates)}}
            values = {":c": _attr(claim.expected), **{f":u{i}": _attr(v) for i, v in enumerate(claim.updates.values())}}
            sets = ", ".join(f"#u{i} = :u{i}" for i in range(len(claim.updates)))
            writes.append(
                {
                    "Update": {
                        "TableName": self._t,
                        "Key": self._key(claim.pk, claim.sk),
                        "UpdateExpression": f"SET {sets}",
                        # the claimed item exists AND is still in the expected state (e.g. an unused invite)
                        "ConditionExpression": "attribute_exists(pk) AND #c = :c",
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                }
            )
        try:
            transact(self._c, writes)
        except TransactionCancelled as cancelled:
            for index in range(len(writes)):
                if cancelled.failed(index) is not None:
                    raise ConditionFailed(index) from cancelled
            raise

    def put(self, pk: str, sk: str, item: Item) -> None:
        full = {**self._key(pk, sk), **{k: _attr(v) for k, v in item.items()}}
        retry_store(lambda: self._c.put_item(TableName=self._t, Item=full))

    def update(self, pk: str, sk: str, changes: Item) -> None:
        names = {f"#u{i}": k for i, k in enumerate(changes)}
        values = {f":u{i}": _attr(v) for i, v in enumerate(changes.values())}
        try:
            retry_store(
                lambda: self._c.update_item(
                    TableName=self._t,
                    Key=self._key(pk, sk),
                    UpdateExpression="SET " + ", ".join(f"#u{i} = :u{i}" for i in range(len(changes))),
                    ConditionExpression="attribute_exists(pk)",  # only an existing item
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise ConditionFailed() from exc
            raise

    def take(self, pk: str, sk: str) -> Item | None:
        try:
            old = retry_store(
                lambda: self._c.delete_item(
                    TableName=self._t,
                    Key=self._key(pk, sk),
                    ConditionExpression="attribute_exists(pk)",  # exactly one caller takes it
                    ReturnValues="ALL_OLD",
                )
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return _plain(old.get("Attributes", {}))

    def count(self, pk: str, sk: str, limit: int, expires_at: int) -> bool:
        try:
            retry_store(
                lambda: self._c.update_item(
                    TableName=self._t,
                    Key=self._key(pk, sk),
                    UpdateExpression="ADD n :one SET expires_at = :exp",
                    # the window's counter is below the limit (or the window is new)
                    ConditionExpression="attribute_not_exists(n) OR n < :limit",
                    ExpressionAttributeValues={":one": N(1), ":limit": N(limit), ":exp": N(expires_at)},
                )
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def newest(self, pk: str, limit: int) -> list[Item]:
        found = retry_store(
            lambda: self._c.query(
                TableName=self._t,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": S(pk)},
                ScanIndexForward=False,
                Limit=limit,
            )
        )
        return [_plain(i) for i in found.get("Items", [])]


class MemoryItems:
    """The same contract in memory; one lock makes every operation atomic."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str], Item] = {}

    def get(self, pk: str, sk: str) -> Item | None:
        with self._lock:
            found = self._items.get((pk, sk))
            return None if found is None else dict(found)

    def create(self, items: list[tuple[str, str, Item]], claim: Claim | None = None) -> None:
        with self._lock:
            for index, (pk, sk, _) in enumerate(items):
                if (pk, sk) in self._items:
                    raise ConditionFailed(index)
            if claim is not None:
                target = self._items.get((claim.pk, claim.sk))
                if target is None or target.get(claim.attribute) != claim.expected:
                    raise ConditionFailed(len(items))
                target.update(claim.updates)
            for pk, sk, item in items:
                self._items[(pk, sk)] = dict(item)

    def put(self, pk: str, sk: str, item: Item) -> None:
        with self._lock:
            self._items[(pk, sk)] = dict(item)

    def update(self, pk: str, sk: str, changes: Item) -> None:
        with self._lock:
            if (pk, sk) not in self._items:
                raise ConditionFailed()
            self._items[(pk, sk)].update(changes)

    def take(self, pk: str, sk: str) -> Item | None:
        with self._lock:
            return self._items.pop((pk, sk), None)

    def count(self, pk: str, sk: str, limit: int, expires_at: int) -> bool:
        with self._lock:
            item = self._items.setdefault((pk, sk), {"n": 0})
            if int(item["n"]) >= limit:
                return False
            item["n"] = int(item["n"]) + 1
            item["expires_at"] = expires_at
            return True

    def newest(self, pk: str, limit: int) -> list[Item]:
        with self._lock:
            keys = sorted((k for k in self._items if k[0] == pk), key=lambda k: k[1], reverse=True)[:limit]
            return [dict(self._items[k]) for k in keys]
