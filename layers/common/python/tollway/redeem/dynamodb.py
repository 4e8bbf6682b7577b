"""Redemption codes on DynamoDB: ``CodesTable`` (hash of the code; index ``by_batch``) and the batches'
descriptions in ``ConfigTable`` (pk ``redeem_batch``).

A redemption is one transaction on the small tables plus the codes table::

    accounts[a]  balance += value        IF exists AND status = active [AND group = the code's group]
    keys[h]      (ConditionCheck)        IF status = active AND not expired
    codes[c]     status = used, used_by  IF status = unused AND value = the value read AND not expired
    holds[m]     put settled marker      IF attribute_not_exists(hold_id)

then the credit's ledger entry is written and the marker closed (``Biller.finish``), as for every
credit. The code's condition is what makes 20 racing redemptions credit once: DynamoDB applies one
transaction on the code item at a time, and every later one finds it used.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tollway.dynamo import AttrValue, N, S, TransactionCancelled, error_code, retry_store, transact
from tollway.errors import StoreUnavailable
from tollway.ledger.dynamodb import DynamoLedger
from tollway.ledger.settlement import build_credit_movement
from tollway.redeem.model import Batch, Code, CodeStatus, RedeemRefused, Redemption, redeemer, refused
from tollway.redeem.ports import CodePage
from tollway.usage.query import decode_cursor, encode_cursor

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DynamoCodes"]

_UNUSED = S(CodeStatus.UNUSED.value)


class DynamoCodes:
    def __init__(self, client: DynamoDBClient, ledger: DynamoLedger, *, codes_table: str, config_table: str) -> None:
        self._c = client
        self._ledger = ledger
        self._codes = codes_table
        self._config = config_table

    # ---- batches ---------------------------------------------------------------------------------

    def create_batch(self, batch: Batch, codes: list[Code]) -> None:
        meta = {"pk": S("redeem_batch"), "sk": S(batch.batch_id), "data": S(json.dumps(batch.to_json()))}
        try:
            retry_store(
                lambda: self._c.put_item(
                    TableName=self._config,
                    Item=meta,
                    ConditionExpression="attribute_not_exists(sk)",  # a new batch id only
                )
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise ValueError(f"batch {batch.batch_id} exists") from exc
            raise
        written: list[Code] = []
        try:
            for start in range(0, len(codes), 25):
                chunk = codes[start : start + 25]
                self._batch_write([{"PutRequest": {"Item": _code_item(c)}} for c in chunk])
                written.extend(chunk)
        except Exception:
            # Nothing half-applied: the codes already written (never shown to anyone) and the batch go.
            self._batch_write([{"DeleteRequest": {"Key": {"code_hash": S(c.code_hash)}}} for c in written])
            retry_store(
                lambda: self._c.delete_item(
                    TableName=self._config, Key={"pk": S("redeem_batch"), "sk": S(batch.batch_id)}
                )
            )
            raise

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self._codes: requests[start : start + 25]}
            for _ in range(8):
                if not pending:
                    break
                call = functools.partial(self._c.batch_write_item, RequestItems=pending)
                pending = dict(retry_store(call).get("UnprocessedItems", {}))
            if pending:
                raise StoreUnavailable("Could not write the redemption codes.")

    def get_batch(self, batch_id: str) -> Batch | None:
        item = retry_store(
            lambda: self._c.get_item(
                TableName=self._config, Key={"pk": S("redeem_batch"), "sk": S(batch_id)}, ConsistentRead=True
            )
        ).get("Item")
        return None if item is None else Batch.from_json(json.loads(item["data"]["S"]))

    def list_batches(self) -> list[Batch]:
        batches: list[Batch] = []
        paginator = self._c.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._config,
            KeyConditionExpression="pk = :k",
            ExpressionAttributeValues={":k": S("redeem_batch")},
            ConsistentRead=True,
        ):
            batches.extend(Batch.from_json(json.loads(i["data"]["S"])) for i in page.get("Items", []))
        return batches

    def list_codes(self, batch_id: str, *, limit: int, cursor: str | None) -> CodePage:
        kwargs: dict[str, Any] = {
            "TableName": self._codes,
            "IndexName": "by_batch",
            "KeyConditionExpression": "batch_id = :b",
            "ExpressionAttributeValues": {":b": S(batch_id)},
            "Limit": limit,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = decode_cursor(cursor).get("key")
        response = retry_store(lambda: self._c.query(**kwargs))
        last = response.get("LastEvaluatedKey")
        codes = [_code_of(i) for i in response.get("Items", [])]
        return CodePage(codes, encode_cursor({"key": last}) if last else None)

    def disable(self, batch_id: str, code_id: str | None) -> int:
        changed = 0
        cursor: str | None = None
        while True:
            page = self.list_codes(batch_id, limit=500, cursor=cursor)
            for code in page.codes:
                if (code_id is not None and code.code_id != code_id) or code.status is not CodeStatus.UNUSED:
                    continue
                try:
                    retry_store(
                        lambda code=code: self._c.update_item(  # type: ignore[misc]
                            TableName=self._codes,
                            Key={"code_hash": S(code.code_hash)},
                            UpdateExpression="SET #st = :disabled",
                            # only an unused code: a redemption racing the disable keeps its credit
                            ConditionExpression="#st = :unused",
                            ExpressionAttributeNames={"#st": "status"},
                            ExpressionAttributeValues={":disabled": S(CodeStatus.DISABLED.value), ":unused": _UNUSED},
                        )
                    )
                    changed += 1
                except ClientError as exc:
                    if error_code(exc) != "ConditionalCheckFailedException":
                        raise
            cursor = page.next_cursor
            if cursor is None:
                return changed

    # ---- redeem ----------------------------------------------------------------------------------

    def redeem(
        self, code_hash: str, *, account_id: str, key_hash: str | None, key_id: str | None, movement_id: str, now: int
    ) -> Redemption:
        item = retry_store(
            lambda: self._c.get_item(TableName=self._codes, Key={"code_hash": S(code_hash)}, ConsistentRead=True)
        ).get("Item")
        if item is None:
            raise refused("invalid")
        code = _code_of(item)
        # Clear answers for the common cases; the transaction's conditions decide the races.
        if code.status is CodeStatus.USED:
            raise refused("used")
        if code.status is CodeStatus.DISABLED:
            raise refused("disabled")
        if code.expired(now / 1000):
            raise refused("expired")
        movement = build_credit_movement(
            account_id,
            code.value,
            movement_id=movement_id,
            reason=f"redeem {code.prefix} (batch {code.batch_id})",
            actor=redeemer(account_id, key_id),
            now=now,
        )
        account_values: dict[str, AttrValue] = {":v": N(code.value), ":active": S("active")}
        account_names = {"#st": "status"}
        # the account exists AND is active
        account_condition = "attribute_exists(account_id) AND #st = :active"
        if code.group is not None:
            # ... AND belongs to the code's group
            account_condition += " AND #grp = :grp"
            account_names["#grp"] = "group"
            account_values[":grp"] = S(code.group)
        now_s = now // 1000
        code_values: dict[str, AttrValue] = {
            ":unused": _UNUSED,
            ":used": S(CodeStatus.USED.value),
            ":v": N(code.value),
            ":now_s": N(now_s),
            ":a": S(account_id),
            ":k": S(key_id or "console"),
            ":at": N(now),
            ":m": S(movement_id),
        }
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._ledger.tables.accounts,
                    "Key": {"account_id": S(account_id)},
                    "UpdateExpression": "ADD balance :v",
                    "ConditionExpression": account_condition,
                    "ExpressionAttributeNames": account_names,
                    "ExpressionAttributeValues": account_values,
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Update": {
                    "TableName": self._codes,
                    "Key": {"code_hash": S(code_hash)},
                    "UpdateExpression": (
                        "SET #st = :used, used_by = :a, used_key = :k, used_at = :at, movement_id = :m"
                    ),
                    # unused → used exactly once; the value is the one credited; not expired
                    "ConditionExpression": (
                        "#st = :unused AND #val = :v AND (attribute_not_exists(expires_at) OR expires_at > :now_s)"
                    ),
                    "ExpressionAttributeNames": {"#st": "status", "#val": "value"},
                    "ExpressionAttributeValues": code_values,
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            self._ledger.marker_put(movement, now),
        ]
        if key_hash is not None:  # a redemption with a key (POST /api/redeem) also needs that key usable
            items.insert(
                1,
                {
                    "ConditionCheck": {
                        "TableName": self._ledger.tables.keys,
                        "Key": {"key_hash": S(key_hash)},
                        # the redeeming key is active AND not expired
                        "ConditionExpression": (
                            "#st = :active AND (attribute_not_exists(expires_at) OR expires_at > :now)"
                        ),
                        "ExpressionAttributeNames": {"#st": "status"},
                        "ExpressionAttributeValues": {":active": S("active"), ":now": N(now_s)},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            )
        try:
            transact(self._c, items, movement_id=movement_id)
        except TransactionCancelled as cancelled:
            old_code = cancelled.failed(2 if key_hash is not None else 1)
            if old_code and old_code.get("movement_id", {}).get("S") == movement_id:
                pass  # this very redemption landed (its response was lost): the credit is done, once
            else:
                raise _refusal(cancelled, code, now_s, with_key=key_hash is not None) from cancelled
        used = _code_of(
            {
                **item,
                "status": S(CodeStatus.USED.value),
                "used_by": S(account_id),
                "used_key": S(key_id or "console"),
                "used_at": N(now),
                "movement_id": S(movement_id),
            }
        )
        return Redemption(movement=movement, code=used)


def _refusal(cancelled: TransactionCancelled, code: Code, now_s: int, *, with_key: bool) -> RedeemRefused:
    """What a cancelled redemption means, the code's own state first."""
    old_code = cancelled.failed(2 if with_key else 1)
    if old_code is not None:
        if not old_code:
            return refused("invalid")
        status = old_code.get("status", {}).get("S")
        if status == CodeStatus.USED.value:
            return refused("used")
        if status == CodeStatus.DISABLED.value:
            return refused("disabled")
        return refused("expired")
    old_account = cancelled.failed(0)
    if old_account is not None:
        if old_account and old_account.get("status", {}).get("S") == "active" and code.group is not None:
            return refused("group")
        return refused("account_disabled")
    old_key = cancelled.failed(1) if with_key else None
    if old_key is not None:
        expires = old_key.get("expires_at")
        if old_key and old_key.get("status", {}).get("S") == "active" and expires and int(expires["N"]) <= now_s:
            return refused("key_expired")
        return refused("key_disabled")
    # The marker put failed: the movement id was used before (never, with fresh ids).
    raise StoreUnavailable("The redemption could not be recorded; nothing was credited.")


def _code_item(code: Code) -> dict[str, AttrValue]:
    item: dict[str, AttrValue] = {
        "code_hash": S(code.code_hash),
        "code_id": S(code.code_id),
        "batch_id": S(code.batch_id),
        "prefix": S(code.prefix),
        "value": N(code.value),
        "status": S(code.status.value),
        "created_at": N(code.created_at),
    }
    if code.expires_at is not None:
        item["expires_at"] = N(code.expires_at)
    if code.group is not None:
        item["group"] = S(code.group)
    return item


def _code_of(item: Mapping[str, Any]) -> Code:
    def opt_s(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    def opt_n(name: str) -> int | None:
        return int(item[name]["N"]) if name in item else None

    return Code(
        code_hash=item["code_hash"]["S"],
        code_id=item["code_id"]["S"],
        batch_id=item["batch_id"]["S"],
        prefix=item["prefix"]["S"],
        value=int(item["value"]["N"]),
        status=CodeStatus(item["status"]["S"]),
        created_at=int(item["created_at"]["N"]),
        expires_at=opt_n("expires_at"),
        group=opt_s("group"),
        used_by=opt_s("used_by"),
        used_key=opt_s("used_key"),
        used_at=opt_n("used_at"),
        movement_id=opt_s("movement_id"),
    )
