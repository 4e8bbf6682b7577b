"""Accounts and keys on DynamoDB."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tollway.accounts.items import (
    account_to_item,
    item_to_account,
    item_to_key,
    key_rev_bump,
    key_to_item,
)
from tollway.accounts.keys_dynamo import KeyWrites
from tollway.accounts.model import Account, AccountStatus, ApiKey, KeyChanges, KeyStatus
from tollway.accounts.ports import AccountPage, NotFoundError
from tollway.dynamo import N, S, TransactionCancelled, error_code, retry_store, transact
from tollway.ledger.dynamodb import DynamoLedger
from tollway.ledger.model import Movement
from tollway.ledger.settlement import build_credit_movement
from tollway.tables import Tables
from tollway.usage.query import decode_cursor, encode_cursor

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DynamoAccounts", "item_to_account", "item_to_key"]


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
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                if not self._landed(item):
                    raise ValueError(f"account {account.account_id} exists") from exc
            return None
        movement = build_credit_movement(
            account.account_id, initial_credit, movement_id=movement_id, reason=reason, actor=actor, now=now
        )
        # The account and its first credit appear together, so the ledger balances from the start.
        try:
            transact(self._c, [{"Put": put}, self._ledger.marker_put(movement, now)], movement_id=movement_id)
        except TransactionCancelled as cancelled:
            old_marker = cancelled.failed(1)
            if not (old_marker and old_marker.get("account_id", {}).get("S") == account.account_id):
                raise ValueError(f"account {account.account_id} exists") from cancelled
            # this very creation landed (its response was lost): the account and its credit exist once
        return movement

    def _landed(self, item: Mapping[str, Any]) -> bool:
        """Whether the stored account is the one this creation put (its own write, the response lost):
        the same creation time and name; balance and key_rev may have moved since."""
        stored = retry_store(
            lambda: self._c.get_item(
                TableName=self._t.accounts, Key={"account_id": item["account_id"]}, ConsistentRead=True
            )
        ).get("Item")
        return stored is not None and all(stored.get(n) == item.get(n) for n in ("created_at", "name", "group"))

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
