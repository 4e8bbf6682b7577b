"""Accounts and keys on DynamoDB."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tollway.accounts.keys_dynamo import KeyWrites
from tollway.accounts.model import Account, AccountStatus, ApiKey, KeyChanges, KeyGuards, KeyStatus
from tollway.accounts.ports import AccountPage, NotFoundError
from tollway.dynamo import AttrValue, N, S, TransactionCancelled, error_code, retry_store, transact
from tollway.ledger.dynamodb import DynamoLedger
from tollway.ledger.keyops import guards_of_item, state_of_item
from tollway.ledger.model import Movement
from tollway.ledger.settlement import build_credit_movement
from tollway.tables import Tables
from tollway.usage.query import decode_cursor, encode_cursor

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DynamoAccounts", "item_to_account", "item_to_key"]


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


class DynamoAccounts:
    """:class:`tollway.accounts.AccountStore` on DynamoDB."""

    def __init__(self, client: DynamoDBClient, tables: Tables, ledger: DynamoLedger) -> None:
        self._c = client
        self._t = tables
        self._ledger = ledger

    def create_account(
        self, account: Account, *, initial_credit: int, movement_id: str, reason: str, actor: str | None, now: int
    ) -> Movement | None:
        if initial_credit < 0:
            raise ValueError("initial credit must not be negative")
        item = account_to_item(account)
        item["balance"] = N(initial_credit)
        put: dict[str, Any] = {
            "TableName": self._t.accounts,
            "Item": item,
            # a new account only
            "ConditionExpression": "attribute_not_exists(account_id)",
        }
        if not initial_credit:
            try:
                retry_store(lambda: self._c.put_item(**put))
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    raise ValueError(f"account {account.account_id} exists") from exc
                raise
            return None
        movement = build_credit_movement(
            account.account_id, initial_credit, movement_id=movement_id, reason=reason, actor=actor, now=now
        )
        # The account and its first credit appear together, so the ledger balances from the start.
        try:
            transact(self._c, [{"Put": put}, self._ledger.marker_put(movement, now)])
        except TransactionCancelled as cancelled:
            raise ValueError(f"account {account.account_id} exists") from cancelled
        return movement

    def get_account(self, account_id: str) -> Account | None:
        item = retry_store(
            lambda: self._c.get_item(TableName=self._t.accounts, Key={"account_id": S(account_id)}, ConsistentRead=True)
        ).get("Item")
        return None if item is None else item_to_account(item)

    def set_account_status(self, account_id: str, status: AccountStatus) -> Account:
        try:
            response = retry_store(
                lambda: self._c.update_item(
                    TableName=self._t.accounts,
                    Key={"account_id": S(account_id)},
                    UpdateExpression="SET #st = :st",
                    ConditionExpression="attribute_exists(account_id)",  # never create an account here
                    ExpressionAttributeNames={"#st": "status"},
                    ExpressionAttributeValues={":st": S(status.value)},
                    ReturnValues="ALL_NEW",
                )
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise NotFoundError(account_id) from exc
            raise
        return item_to_account(response["Attributes"])

    def create_key(self, key: ApiKey) -> None:
        try:
            transact(
                self._c,
                [
                    {
                        "ConditionCheck": {
                            "TableName": self._t.accounts,
                            "Key": {"account_id": S(key.account_id)},
                            "ConditionExpression": "attribute_exists(account_id)",  # the owner exists
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._t.keys,
                            "Item": key_to_item(key),
                            "ConditionExpression": "attribute_not_exists(key_hash)",  # a new key only
                        }
                    },
                ],
            )
        except TransactionCancelled as cancelled:
            if cancelled.failed(0) is not None:
                raise NotFoundError(key.account_id) from cancelled
            raise ValueError("key exists") from cancelled

    def get_key(self, key_hash: str) -> ApiKey | None:
        item = retry_store(
            lambda: self._c.get_item(TableName=self._t.keys, Key={"key_hash": S(key_hash)}, ConsistentRead=True)
        ).get("Item")
        return None if item is None else item_to_key(item)

    def get_key_by_id(self, key_id: str) -> ApiKey | None:
        response = retry_store(
            lambda: self._c.query(
                TableName=self._t.keys,
                IndexName="by_key_id",
                KeyConditionExpression="key_id = :k",
                ExpressionAttributeValues={":k": S(key_id)},
            )
        )
        # The index is eventually consistent: just after a rotation it may still name the old hash.
        for item in response.get("Items", []):
            key = self.get_key(item["key_hash"]["S"])
            if key is not None:
                return key
        return None

    def set_key_status(self, key_id: str, status: KeyStatus) -> ApiKey:
        key = self.get_key_by_id(key_id)
        if key is None:
            raise NotFoundError(key_id)
        status_op = {
            "Update": {
                "TableName": self._t.keys,
                "Key": {"key_hash": S(key.key_hash)},
                "UpdateExpression": "SET #st = :st",
                "ConditionExpression": "attribute_exists(key_hash)",  # never create a key here
                "ExpressionAttributeNames": {"#st": "status"},
                "ExpressionAttributeValues": {":st": S(status.value)},
            }
        }
        try:
            # A repeat (boto3 retry) sets the same status again and moves key_rev once more: harmless,
            # cached copies of the account's keys are only read again.
            transact(self._c, [status_op, key_rev_bump(self._t.accounts, key.account_id)])
        except TransactionCancelled as cancelled:
            raise NotFoundError(key_id) from cancelled
        updated = self.get_key(key.key_hash)
        if updated is None:
            raise NotFoundError(key_id)
        return updated

    # ---- operator listings and key changes -------------------------------------------------------

    def list_accounts(
        self, *, group: str | None, status: AccountStatus | None, limit: int, cursor: str | None
    ) -> AccountPage:
        kwargs: dict[str, Any] = {"TableName": self._t.accounts, "ConsistentRead": True}
        filters, names, values = [], {}, {}
        if group is not None:
            filters.append("#grp = :grp")
            names["#grp"] = "group"
            values[":grp"] = S(group)
        if status is not None:
            filters.append("#st = :st")
            names["#st"] = "status"
            values[":st"] = S(status.value)
        if filters:
            kwargs.update(
                FilterExpression=" AND ".join(filters), ExpressionAttributeNames=names, ExpressionAttributeValues=values
            )
        start = decode_cursor(cursor).get("key") if cursor else None
        accounts: list[Account] = []
        while True:
            call = dict(kwargs, Limit=200 if filters else max(limit - len(accounts), 1))
            if start:
                call["ExclusiveStartKey"] = start
            response = retry_store(functools.partial(self._c.scan, **call))
            items = response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            for position, item in enumerate(items):
                accounts.append(item_to_account(item))
                if len(accounts) == limit:
                    more = position + 1 < len(items) or last is not None
                    key = {"account_id": item["account_id"]}
                    return AccountPage(accounts, encode_cursor({"key": key}) if more else None)
            if last is None:
                return AccountPage(accounts, None)
            start = last

    def set_account_group(self, account_id: str, group: str) -> Account:
        try:
            response = retry_store(
                lambda: self._c.update_item(
                    TableName=self._t.accounts,
                    Key={"account_id": S(account_id)},
                    UpdateExpression="SET #grp = :grp",
                    ConditionExpression="attribute_exists(account_id)",  # never create an account here
                    ExpressionAttributeNames={"#grp": "group"},
                    ExpressionAttributeValues={":grp": S(group)},
                    ReturnValues="ALL_NEW",
                )
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise NotFoundError(account_id) from exc
            raise
        return item_to_account(response["Attributes"])

    def list_keys(self, account_id: str) -> list[ApiKey]:
        hashes: list[str] = []
        paginator = self._c.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._t.keys,
            IndexName="by_account",
            KeyConditionExpression="account_id = :a",
            ExpressionAttributeValues={":a": S(account_id)},
        ):
            hashes.extend(i["key_hash"]["S"] for i in page.get("Items", []))
        keys = [k for k in (self.get_key(h) for h in hashes) if k is not None]
        return sorted(keys, key=lambda k: k.key_id)

    def update_key(self, key_id: str, changes: KeyChanges, *, now: int) -> ApiKey:
        return KeyWrites(self._c, self._t, self.get_key_by_id).update(key_id, changes, now=now)

    def rotate_key(self, key_id: str, new_hash: str, new_prefix: str) -> tuple[ApiKey, ApiKey]:
        return KeyWrites(self._c, self._t, self.get_key_by_id).rotate(key_id, new_hash, new_prefix)
