"""Accounts and keys as DynamoDB items, and the key_rev move every key change carries.

Shared by the account store (dynamodb.py) and the key writes (keys_dynamo.py), so neither imports
the other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tollway.accounts.model import Account, AccountStatus, ApiKey, KeyGuards, KeyStatus
from tollway.dynamo import AttrValue, N, S
from tollway.ledger.keyops import guards_of_item, state_of_item

__all__ = ["account_to_item", "guard_items", "item_to_account", "item_to_key", "key_rev_bump", "key_to_item"]


def account_to_item(account: Account) -> dict[str, AttrValue]:
    return {
        "account_id": S(account.account_id),
        "name": S(account.name),
        "group": S(account.group),
        "status": S(account.status.value),
        "balance": N(account.balance),
        "created_at": N(account.created_at),
        "settings": S(json.dumps(account.settings, separators=(",", ":"))),
    }


def item_to_account(item: Mapping[str, Any]) -> Account:
    return Account(
        account_id=item["account_id"]["S"],
        name=item.get("name", {}).get("S", ""),
        group=item.get("group", {}).get("S", "default"),
        status=AccountStatus(item["status"]["S"]),
        balance=int(item["balance"]["N"]),
        created_at=int(item.get("created_at", {"N": "0"})["N"]),
        settings=json.loads(item.get("settings", {}).get("S", "{}")),
        key_rev=int(item["key_rev"]["N"]) if "key_rev" in item else 0,
    )


def key_rev_bump(accounts_table: str, account_id: str) -> dict[str, Any]:
    """The transaction item every key change carries: its account's key_rev moves on (ledger/dynamodb.py)."""
    return {
        "Update": {
            "TableName": accounts_table,
            "Key": {"account_id": S(account_id)},
            "UpdateExpression": "ADD key_rev :one",
            # the account exists (ADD would otherwise create a bare one)
            "ConditionExpression": "attribute_exists(account_id)",
            "ExpressionAttributeValues": {":one": N(1)},
        }
    }


def key_to_item(key: ApiKey) -> dict[str, AttrValue]:
    item: dict[str, AttrValue] = {
        "key_hash": S(key.key_hash),
        "key_id": S(key.key_id),
        "account_id": S(key.account_id),
        "name": S(key.name),
        "prefix": S(key.prefix),
        "status": S(key.status.value),
        "created_at": N(key.created_at),
        "settings": S(json.dumps(key.settings, separators=(",", ":"))),
    }
    if key.remaining is not None:
        item["remaining"] = N(key.remaining)
    if key.expires_at is not None:
        item["expires_at"] = N(key.expires_at)
    if key.models is not None:
        item["models"] = {"L": [S(m) for m in key.models]}
    if key.cidrs is not None:
        item["cidrs"] = {"L": [S(c) for c in key.cidrs]}
    item.update(guard_items(key.guards))
    return item


def guard_items(guards: KeyGuards | None) -> dict[str, AttrValue]:
    """A key's guard settings as attributes (none at all for a key without guards)."""
    if guards is None:
        return {}
    item: dict[str, AttrValue] = {"guard_rev": N(guards.rev)}
    for name, value in (
        ("daily_cap", guards.daily_cap),
        ("monthly_cap", guards.monthly_cap),
        ("rpm_limit", guards.rpm),
        ("concurrency", guards.concurrency),
    ):
        if value is not None:
            item[name] = N(value)
    return item


def item_to_key(item: Mapping[str, Any]) -> ApiKey:
    return ApiKey(
        key_hash=item["key_hash"]["S"],
        key_id=item["key_id"]["S"],
        account_id=item["account_id"]["S"],
        name=item.get("name", {}).get("S", ""),
        prefix=item.get("prefix", {}).get("S", ""),
        status=KeyStatus(item["status"]["S"]),
        created_at=int(item.get("created_at", {"N": "0"})["N"]),
        remaining=int(item["remaining"]["N"]) if "remaining" in item else None,
        expires_at=int(item["expires_at"]["N"]) if "expires_at" in item else None,
        models=tuple(m["S"] for m in item["models"]["L"]) if "models" in item else None,
        cidrs=tuple(c["S"] for c in item["cidrs"]["L"]) if "cidrs" in item else None,
        settings=json.loads(item.get("settings", {}).get("S", "{}")),
        guards=guards_of_item(item),
        guard_state=state_of_item(item),
    )
