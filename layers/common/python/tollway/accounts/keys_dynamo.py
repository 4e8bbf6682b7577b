"""Operator changes to a key on DynamoDB: update its settings and guards, rotate its secret.

Both read the key, then write it with a condition that what they read is still current, and try again
if it is not: a live request may move the key's counters at any time, and must never be overwritten.
Both move the account's ``key_rev`` in the same transaction, so cached copies of the key stop passing
the reserve's condition at once (ledger/dynamodb.py).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tollway.accounts.items import item_to_key, key_rev_bump
from tollway.accounts.model import ApiKey, Keep, KeyChanges, KeyStatus, apply_guard_changes, merge_settings
from tollway.accounts.ports import NotFoundError
from tollway.dynamo import AttrValue, N, S, TransactionCancelled, retry_store, transact
from tollway.errors import StoreUnavailable
from tollway.tables import Tables

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["KeyWrites"]

_ATTEMPTS = 5
# Counters a live request changes; rotation copies them only if they did not move meanwhile.
_SCALARS = (
    "status",
    "remaining",
    "expires_at",
    "name",
    "guard_rev",
    "day_period",
    "day_left",
    "month_period",
    "month_left",
    "rpm_window",
    "rpm_count",
)
_GUARD_ATTRIBUTES = {
    "daily": ("daily_cap", "day_period", "day_left"),
    "monthly": ("monthly_cap", "month_period", "month_left"),
    "rpm": ("rpm_limit", "rpm_window", "rpm_count"),
    "concurrency": ("concurrency", "inflight"),
}


class KeyWrites:
    def __init__(self, client: DynamoDBClient, tables: Tables, by_id: Callable[[str], ApiKey | None]) -> None:
        self._c = client
        self._table = tables.keys
        self._accounts = tables.accounts
        self._holds = tables.holds
        self._by_id = by_id

    def update(self, key_id: str, changes: KeyChanges, *, now: int) -> ApiKey:
        for _ in range(_ATTEMPTS):
            key = self._by_id(key_id)
            if key is None:
                raise NotFoundError(key_id)
            held = self._held(key.key_hash) if _sets_limit(changes) else 0
            request = _update_request(key, changes, now, held=held)
            if request is None:
                return key
            update = {"Update": {"TableName": self._table, "Key": {"key_hash": S(key.key_hash)}, **request}}
            try:
                transact(self._c, [update, key_rev_bump(self._accounts, key.account_id)])
            except TransactionCancelled as cancelled:
                if cancelled.failed(1) is not None:
                    raise NotFoundError(key.account_id) from cancelled
                continue  # the key changed (or was rotated) since it was read: read it again
            updated = self._by_id(key_id)
            if updated is None:
                raise NotFoundError(key_id)
            return updated
        raise StoreUnavailable("The key kept changing; try the update again.")

    def _held(self, key_hash: str) -> int:
        """What open holds of this key have taken from its own limit (their settles give back the unused
        part, so a limit set now is net of them)."""
        paginator = self._c.get_paginator("scan")
        held = 0
        for page in paginator.paginate(
            TableName=self._holds,
            ConsistentRead=True,
            FilterExpression="key_hash = :h AND #st = :open AND key_limited = :yes",
            ExpressionAttributeNames={"#st": "state"},
            ExpressionAttributeValues={":h": S(key_hash), ":open": S("open"), ":yes": {"BOOL": True}},
            ProjectionExpression="amount",
        ):
            held += sum(int(item["amount"]["N"]) for item in page.get("Items", []))
        return held

    def rotate(self, key_id: str, new_hash: str, new_prefix: str) -> tuple[ApiKey, ApiKey]:
        for _ in range(_ATTEMPTS):
            key = self._by_id(key_id)
            if key is None:
                raise NotFoundError(key_id)
            if key.status is KeyStatus.REVOKED:
                raise ValueError("a revoked key cannot be rotated")
            read = functools.partial(
                self._c.get_item, TableName=self._table, Key={"key_hash": S(key.key_hash)}, ConsistentRead=True
            )
            old = retry_store(read).get("Item")
            if old is None:
                continue
            new = {**old, "key_hash": S(new_hash), "prefix": S(new_prefix)}
            # Requests in flight with the old secret give their concurrency lease back to the old item,
            # which is gone; the new secret starts with none in flight.
            new.pop("inflight", None)
            condition, names, values = _unchanged(old)
            try:
                transact(
                    self._c,
                    [
                        # the new hash is new (a collision of 256-bit hashes would mean a bug)
                        {
                            "Put": {
                                "TableName": self._table,
                                "Item": new,
                                "ConditionExpression": "attribute_not_exists(key_hash)",
                            }
                        },
                        # the old item is exactly as read: no request moved its counters meanwhile
                        {
                            "Delete": {
                                "TableName": self._table,
                                "Key": {"key_hash": old["key_hash"]},
                                "ConditionExpression": condition,
                                "ExpressionAttributeNames": names,
                                "ExpressionAttributeValues": values,
                            }
                        },
                        # cached copies of the old secret stop passing the reserve at once
                        key_rev_bump(self._accounts, key.account_id),
                    ],
                )
            except TransactionCancelled as cancelled:
                if cancelled.failed(0) is not None:
                    raise ValueError("key exists") from cancelled
                continue
            return item_to_key(old), item_to_key(new)
        raise StoreUnavailable("The key is too busy to rotate; try again.")


def _unchanged(item: dict[str, Any]) -> tuple[str, dict[str, str], dict[str, AttrValue]]:
    """A condition that the item's counters and settings still have the values read."""
    parts = ["attribute_exists(key_hash)"]
    names: dict[str, str] = {}
    values: dict[str, AttrValue] = {}
    for position, name in enumerate(_SCALARS):
        names[f"#a{position}"] = name
        if name in item:
            values[f":v{position}"] = item[name]
            parts.append(f"#a{position} = :v{position}")
        else:
            parts.append(f"attribute_not_exists(#a{position})")
    return " AND ".join(parts), names, values


def _sets_limit(changes: KeyChanges) -> bool:
    return not isinstance(changes.remaining, Keep) and changes.remaining is not None


def _update_request(key: ApiKey, changes: KeyChanges, now: int, *, held: int = 0) -> dict[str, Any] | None:
    """UpdateItem arguments for ``changes``, conditional on the guards being those read (None: no change)."""
    sets: list[str] = []
    removes: list[str] = []
    names: dict[str, str] = {}
    values: dict[str, AttrValue] = {}

    def put(name: str, value: AttrValue | None) -> None:
        names[f"#{name}"] = name
        if value is None:
            removes.append(f"#{name}")
        else:
            values[f":{name}"] = value
            sets.append(f"#{name} = :{name}")

    _settings(put, changes)
    # the key exists (never create one here)
    conditions = ["attribute_exists(key_hash)"]
    if isinstance(changes.remaining, int):
        _net_limit(values, conditions, key, changes.remaining, held)
    if not isinstance(changes.settings, Keep):
        # ... AND its open settings are still the ones read (a concurrent change is not lost)
        names["#settings"] = "settings"
        values[":oldsettings"] = S(json.dumps(key.settings, separators=(",", ":")))
        conditions.append("(#settings = :oldsettings OR attribute_not_exists(#settings))")
        put("settings", S(json.dumps(merge_settings(key.settings, changes.settings), separators=(",", ":"))))
    if changes.touches_guards():
        old = key.guards
        rev = max(now, old.rev + 1) if old is not None else now
        guards = apply_guard_changes(old, changes, rev)
        if guards is not old:
            # ... AND its guards are still the ones read (two operators changing them do not interleave)
            if old is None:
                conditions.append("attribute_not_exists(guard_rev)")
            else:
                values[":oldrev"] = N(old.rev)
                conditions.append("guard_rev = :oldrev")
            if guards is None:
                put("guard_rev", None)
                for group in _GUARD_ATTRIBUTES.values():
                    for name in group:
                        put(name, None)
            else:
                put("guard_rev", N(guards.rev))
                old_daily = None if old is None else old.daily_cap
                old_monthly = None if old is None else old.monthly_cap
                _cap(put, sets, values, conditions, "daily", old_daily, guards.daily_cap, key)
                _cap(put, sets, values, conditions, "monthly", old_monthly, guards.monthly_cap, key)
                _limit(put, "rpm", guards.rpm)
                _limit(put, "concurrency", guards.concurrency)
    if not sets and not removes:
        return None
    expression = ""
    if sets:
        expression += "SET " + ", ".join(sets)
    if removes:
        expression += " REMOVE " + ", ".join(removes)
    request: dict[str, Any] = {
        "UpdateExpression": expression.strip(),
        "ConditionExpression": " AND ".join(conditions),
        "ExpressionAttributeNames": names,
    }
    if values:
        request["ExpressionAttributeValues"] = values
    return request


def _net_limit(values: dict[str, AttrValue], conditions: list[str], key: ApiKey, limit: int, held: int) -> None:
    """The limit set is what the key may still spend, requests in flight included: their holds (``held``)
    took their worst case and give the unused part back when they settle. Below what they hold, it
    starts at zero (never negative)."""
    values[":remaining"] = N(max(0, limit - held))
    # ... AND no request moved the limit since it and the holds were read
    if key.remaining is None:
        conditions.append("attribute_not_exists(#remaining)")
    else:
        values[":oldremaining"] = N(key.remaining)
        conditions.append("#remaining = :oldremaining")


def _settings(put: Callable[[str, AttrValue | None], None], changes: KeyChanges) -> None:
    """The plain settings (name, own limit, expiry, allow-lists): set, removed (None) or kept."""
    if not isinstance(changes.name, Keep):
        put("name", S(changes.name))
    if not isinstance(changes.remaining, Keep):
        put("remaining", None if changes.remaining is None else N(changes.remaining))
    if not isinstance(changes.expires_at, Keep):
        put("expires_at", None if changes.expires_at is None else N(changes.expires_at))
    if not isinstance(changes.models, Keep):
        put("models", None if changes.models is None else {"L": [S(m) for m in changes.models]})
    if not isinstance(changes.cidrs, Keep):
        put("cidrs", None if changes.cidrs is None else {"L": [S(c) for c in changes.cidrs]})


def _cap(
    put: Callable[[str, AttrValue | None], None],
    sets: list[str],
    values: dict[str, AttrValue],
    conditions: list[str],
    which: str,
    old: int | None,
    new: int | None,
    key: ApiKey,
) -> None:
    cap_name, _, left_name = _GUARD_ATTRIBUTES[which]
    if new is None:
        for name in _GUARD_ATTRIBUTES[which]:
            put(name, None)
        return
    put(cap_name, N(new))
    left = key.guard_state.day_left if which == "daily" else key.guard_state.month_left
    if old is not None and new != old and left is not None:
        # A cap changed mid-period keeps what was spent: what is left moves by the difference (relative,
        # so a request reserving at the same moment is not overwritten).
        values[f":{which}diff"] = N(new - old)
        sets.append(f"{left_name} = {left_name} + :{which}diff")
    elif left is None:
        # ... AND no period started since the read (else its counter would start from the old cap)
        conditions.append(f"attribute_not_exists({left_name})")


def _limit(put: Callable[[str, AttrValue | None], None], which: str, value: int | None) -> None:
    if value is None:
        for name in _GUARD_ATTRIBUTES[which]:
            put(name, None)
    else:
        put(_GUARD_ATTRIBUTES[which][0], N(value))
