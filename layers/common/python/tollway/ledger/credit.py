"""Credits and debits: balance movements born settled (top-ups, adjustments; account creation and
redemptions use the same marker in their own transactions).

    accounts[a]  balance += amount    IF exists (a debit: AND balance >= what it takes)
    holds[m]     put settled marker   IF attribute_not_exists(hold_id)   ← one marker per movement id

The marker carries the movement's entries, so its history can always be finished by maintenance. A
marker already stored under this movement id is the credit's own earlier write (a repeat, a lost
response): that movement is the answer, and nothing moves twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tollway.dynamo import AttrValue, N, S, TransactionCancelled, transact
from tollway.ledger.codecs import SETTLED, movement_of
from tollway.ledger.model import HoldRejected, Movement, RejectReason
from tollway.ledger.settlement import build_credit_movement
from tollway.tables import Tables

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["credit", "marker_put"]


def credit(
    client: DynamoDBClient,
    tables: Tables,
    account_id: str,
    amount: int,
    *,
    movement_id: str,
    reason: str,
    actor: str | None,
    now: int,
) -> Movement:
    movement = build_credit_movement(account_id, amount, movement_id=movement_id, reason=reason, actor=actor, now=now)
    values: dict[str, AttrValue] = {":amt": N(amount)}
    condition = "attribute_exists(account_id)"
    if amount < 0:
        # a debit never takes the balance below zero
        condition += " AND balance >= :need"
        values[":need"] = N(-amount)
    account_op = {
        "Update": {
            "TableName": tables.accounts,
            "Key": {"account_id": S(account_id)},
            "UpdateExpression": "ADD balance :amt",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }
    try:
        transact(client, [account_op, marker_put(tables, movement, now)], movement_id=movement_id)
    except TransactionCancelled as cancelled:
        old_marker = cancelled.failed(1)
        if old_marker:
            # This credit already happened (a repeat); its history may already be written too.
            return movement_of(old_marker) or movement
        old_account = cancelled.failed(0)
        if old_account is not None and not old_account:
            raise HoldRejected(RejectReason.ACCOUNT_MISSING) from cancelled
        balance = int(old_account["balance"]["N"]) if old_account else None
        raise HoldRejected(RejectReason.BALANCE, account_balance=balance) from cancelled
    return movement


def marker_put(tables: Tables, movement: Movement, now: int) -> dict[str, Any]:
    """The transaction item that records a movement born settled (credits, account creation)."""
    item: dict[str, AttrValue] = {
        "hold_id": S(movement.movement_id),
        "account_id": S(movement.account_id),
        "state": SETTLED,
        "kind": S("credit"),
        "amount": N(0),
        "created_at": N(now),
        "settled_at": N(now),
        "charge": N(0),
        "shortfall": N(0),
        "entries": S(movement.entries_json()),
    }
    return {
        "Put": {
            "TableName": tables.holds,
            "Item": item,
            # one marker per movement id: a repeated credit is a no-op
            "ConditionExpression": "attribute_not_exists(hold_id)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }
