"""The settle: one transaction after the upstream answered (see ``dynamodb.py`` for the whole timeline).

    holds[r]     state = settled + entries + record   IF state = open         ← settle-once
    accounts[a]  balance += hold − charged            (an overrun: IF balance >= taken)
    keys[h]      remaining += hold − charged          (limited keys only; guarded keys: caps
                                                      get the unused part back, the lease is released)

A settle that cannot land (the store kept failing) stores the charge and record it computed on the
open hold, so maintenance settles the served request at its real charge instead of refunding it.

A refused settle is read from its conditions: the hold no longer open is a settle that already
happened (a repeat, a lost response, or maintenance first) and its marker is the answer; a key part
that no longer applies (rotated, limit removed, period ended) is dropped; an overrun the balance
cannot pay takes what is there and the rest is a shortfall.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tollway.dynamo import AttrValue, N, S, TransactionCancelled, error_code, retry_store, transact
from tollway.errors import StoreUnavailable
from tollway.ledger.codecs import OPEN, SETTLED, movement_of
from tollway.ledger.keyops import settle_key_op
from tollway.ledger.model import HoldRequest, Movement, SettleDeferred
from tollway.ledger.settlement import build_settle_movement, plan_settle
from tollway.records import UsageRecord
from tollway.tables import Tables

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["charged", "settle"]

log = logging.getLogger(__name__)


def settle(
    client: DynamoDBClient, tables: Tables, hold: HoldRequest, cost: int, record: UsageRecord, *, now: int
) -> Movement | None:
    """Settle a hold at ``cost`` once; ``None`` if it was settled and closed before (nothing to finish).

    Raises:
        SettleDeferred: the settle could not land, but its charge and record are stored on the open
            hold (one small conditional write): maintenance settles it at that charge.
        StoreUnavailable: neither landed; the hold stays open and maintenance refunds it.
    """
    try:
        return _settle(client, tables, hold, cost, record, now=now)
    except StoreUnavailable as failed:
        landed = _remember_due(client, tables, hold, cost, record)
        if landed is True:
            raise SettleDeferred(hold.hold_id, cost) from failed
        if landed is False:
            # the hold is no longer open: the settle landed after all (its answer lost) or maintenance
            # settled it — its marker is the answer, as for any repeated settle
            item = _hold_item(client, tables, hold.hold_id)
            return None if item is None else movement_of(item)
        raise


def charged(client: DynamoDBClient, tables: Tables, hold: HoldRequest) -> int:
    """What a request was charged when its own settle did not return the movement: its settled marker's
    charge, the due charge a deferred settle left for maintenance, or — the marker closed (maintenance
    refunded it after the hold timeout, or finished it) — its ledger charge entry; 0 if there is none."""
    item = _hold_item(client, tables, hold.hold_id)
    if item is not None:
        movement = movement_of(item)
        if movement is not None:
            return movement.charge
        return int(item["due_charge"]["N"]) if "due_charge" in item else 0
    entry = retry_store(
        lambda: client.get_item(
            TableName=tables.ledger,
            Key={"account_id": S(hold.account_id), "entry_id": S(f"{hold.hold_id}#charge")},
            ConsistentRead=True,
        )
    ).get("Item")
    return 0 if entry is None else -int(entry["amount"]["N"])


def _remember_due(
    client: DynamoDBClient, tables: Tables, hold: HoldRequest, cost: int, record: UsageRecord
) -> bool | None:
    """Store the charge and record a failed settle computed, on the open hold. True: stored; False: the
    hold is not open any more; None: the store refused this too."""
    try:
        retry_store(
            lambda: client.update_item(
                TableName=tables.holds,
                Key={"hold_id": S(hold.hold_id)},
                UpdateExpression="SET due_charge = :c, due_record = :r",
                # only an open hold: a settled marker already says what was charged
                ConditionExpression="#st = :open",
                ExpressionAttributeNames={"#st": "state"},
                ExpressionAttributeValues={
                    ":c": N(cost),
                    ":r": S(json.dumps(record.to_json(), separators=(",", ":"))),
                    ":open": OPEN,
                },
            )
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        log.warning("could not store the due charge of %s", hold.hold_id)
        return None
    except StoreUnavailable:
        log.warning("could not store the due charge of %s", hold.hold_id)
        return None
    return True


def _hold_item(client: DynamoDBClient, tables: Tables, hold_id: str) -> dict[str, Any] | None:
    try:
        item: dict[str, Any] | None = retry_store(
            lambda: client.get_item(TableName=tables.holds, Key={"hold_id": S(hold_id)}, ConsistentRead=True)
        ).get("Item")
    except ClientError as exc:
        raise StoreUnavailable("Could not settle the request.") from exc
    return item


def _settle(
    client: DynamoDBClient, tables: Tables, hold: HoldRequest, cost: int, record: UsageRecord, *, now: int
) -> Movement | None:
    available: int | None = None
    request = hold
    for _ in range(8):
        plan = plan_settle(cost, request.amount, available)
        movement = build_settle_movement(request, plan, record, now)
        items, account_at, key_at = _settle_items(tables, movement, request, plan.delta, plan.take_excess, now)
        try:
            transact(client, items, movement_id=movement.movement_id)
            return movement
        except TransactionCancelled as cancelled:
            old_hold = cancelled.failed(0)
            if old_hold is not None:
                # Settled already (a repeat, or maintenance got there first) or closed: nothing to do.
                return movement_of(old_hold) if old_hold else None
            old_key = cancelled.failed(key_at) if key_at is not None else None
            if old_key is not None:
                moved = None if old_key else _rotated(client, tables, request)
                if moved is not None:
                    # The key was rotated while this request was in flight: its limit and caps moved
                    # to the new secret's item (its remaining already short by this hold), so the
                    # unused part goes back there — not dropped.
                    request = moved
                    continue
                trimmed = _trim_key_parts(request, old_key)
                if trimmed != request:
                    # The key was rotated away, lost its limit, or a guard period ended meanwhile:
                    # settle without the parts that no longer apply.
                    request = trimmed
                    continue
            old_account = cancelled.failed(account_at) if account_at is not None else None
            learned = [int(o["balance"]["N"]) for o in (old_account,) if o and "balance" in o]
            learned += [int(old_key["remaining"]["N"])] if old_key and "remaining" in old_key else []
            # An overrun takes what is there; the rest is a shortfall the operator sees.
            available = max(0, min(learned)) if learned else 0
    plan = plan_settle(cost, request.amount, 0)
    movement = build_settle_movement(request, plan, record, now)
    items, _, _ = _settle_items(tables, movement, request, plan.delta, 0, now)
    try:
        transact(client, items, movement_id=movement.movement_id)
    except TransactionCancelled as cancelled:
        old_hold = cancelled.failed(0)
        if old_hold is not None:
            return movement_of(old_hold) if old_hold else None
        raise StoreUnavailable("Could not settle the request.") from cancelled
    return movement


def _settle_items(
    tables: Tables, movement: Movement, request: HoldRequest, delta: int, take_excess: int, now: int
) -> tuple[list[dict[str, Any]], int | None, int | None]:
    """The settle transaction, with the positions of its account and key items."""
    items = [_hold_op(tables, movement, now)]
    account_at = key_at = None
    if delta:
        account_at = len(items)
        items.append(_balance_op(tables, request, delta, take_excess))
    key_op = settle_key_op(tables.keys, request, delta, take_excess)
    if key_op is not None:
        key_at = len(items)
        items.append(key_op)
    return items, account_at, key_at


def _hold_op(tables: Tables, movement: Movement, now: int) -> dict[str, Any]:
    values: dict[str, AttrValue] = {
        ":open": OPEN,
        ":settled": SETTLED,
        ":now": N(now),
        ":charge": N(movement.charge),
        ":shortfall": N(movement.shortfall),
        ":entries": S(movement.entries_json()),
    }
    expression = "SET #st = :settled, settled_at = :now, charge = :charge, shortfall = :shortfall, entries = :entries"
    record = movement.record_json()
    if record is not None:
        values[":record"] = S(record)
        expression += ", #rec = :record"
    return {
        "Update": {
            "TableName": tables.holds,
            "Key": {"hold_id": S(movement.movement_id)},
            "UpdateExpression": expression,
            # settle once: only an open hold can be settled (request, maintenance and retries race here)
            "ConditionExpression": "#st = :open",
            "ExpressionAttributeNames": {"#st": "state", **({"#rec": "record"} if record is not None else {})},
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def _balance_op(tables: Tables, request: HoldRequest, delta: int, take_excess: int) -> dict[str, Any]:
    values: dict[str, AttrValue] = {":delta": N(delta)}
    condition = "attribute_exists(account_id)"
    if take_excess:
        # an overrun takes only what the balance holds: never below zero
        condition += " AND balance >= :take"
        values[":take"] = N(take_excess)
    return {
        "Update": {
            "TableName": tables.accounts,
            "Key": {"account_id": S(request.account_id)},
            "UpdateExpression": "ADD balance :delta",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def _rotated(client: DynamoDBClient, tables: Tables, request: HoldRequest) -> HoldRequest | None:
    """The settle request aimed at the item the key's secret was rotated to, if there is one."""
    if not request.key_id:
        return None
    found = retry_store(
        lambda: client.query(
            TableName=tables.keys,
            IndexName="by_key_id",
            KeyConditionExpression="key_id = :k",
            ExpressionAttributeValues={":k": S(request.key_id)},
        )
    ).get("Items", [])
    for item in found:
        key_hash = item["key_hash"]["S"]
        if key_hash != request.key_hash:  # key ids are unique: the same key under its new secret
            # the lease stays behind: the new item starts with no request in flight (keys_dynamo.rotate)
            use = None if request.guards is None else dataclasses.replace(request.guards, lease=False)
            return dataclasses.replace(request, key_hash=key_hash, guards=use)
    return None


def _trim_key_parts(request: HoldRequest, old_key: Mapping[str, Any]) -> HoldRequest:
    """The settle request without the key parts a refused write shows no longer apply."""
    if not old_key:
        return _without_key(request)  # the key is gone (revoked and deleted): settle the account alone
    limited = request.key_limited and "remaining" in old_key
    use = request.guards
    if use is not None:
        inflight = int(old_key["inflight"]["N"]) if "inflight" in old_key else 0
        use = dataclasses.replace(
            use,
            day=use.day if old_key.get("day_period", {}).get("S") == use.day else None,
            month=use.month if old_key.get("month_period", {}).get("S") == use.month else None,
            lease=use.lease and inflight >= 1,
        )
    return dataclasses.replace(request, key_limited=limited, guards=use)


def _without_key(request: HoldRequest) -> HoldRequest:
    return dataclasses.replace(request, key_limited=False, guards=None)
