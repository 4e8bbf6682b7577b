"""Accounts and keys on DynamoDB."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tollway.accounts.model import Account, AccountStatus, ApiKey, KeyStatus
from tollway.accounts.ports import NotFoundError
from tollway.dynamo import AttrValue, N, S, TransactionCancelled, error_code, retry_store, transact
from tollway.ledger.dynamodb import DynamoLedger
from tollway.ledger.model import Movement
from tollway.ledger.settlement import build_credit_movement
from tollway.tables import Tables

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
    )


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
        items = response.get("Items", [])
        if not items:
            return None
        return self.get_key(items[0]["key_hash"]["S"])

    def set_key_status(self, key_id: str, status: KeyStatus) -> ApiKey:
        key = self.get_key_by_id(key_id)
        if key is None:
            raise NotFoundError(key_id)
        try:
            response = retry_store(
                lambda: self._c.update_item(
                    TableName=self._t.keys,
                    Key={"key_hash": S(key.key_hash)},
                    UpdateExpression="SET #st = :st",
                    ConditionExpression="attribute_exists(key_hash)",  # never create a key here
                    ExpressionAttributeNames={"#st": "status"},
                    ExpressionAttributeValues={":st": S(status.value)},
                    ReturnValues="ALL_NEW",
                )
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise NotFoundError(key_id) from exc
            raise
        return item_to_key(response["Attributes"])
