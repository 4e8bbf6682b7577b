"""The settle: one transaction after the upstream answered (see ``dynamodb.py`` for the whole timeline).

    holds[r]     delete                                IF state = open          ← settle-once
    accounts[a]  balance += hold − charged             (an overrun: IF balance >= taken)
    keys[h]      remaining += hold − charged           (limited keys only; guarded keys: caps
                                                       get the unused part back, the lease is released)
    usage[a, r]  put the record, which is also the     IF attribute_not_exists(request_id)
                 request's ledger debit (``debit``)     ← one record per request
    ledger[a, r#charge]  put the charge entry          (only when records expire by TTL: the ledger
                                                       is kept, so the debit cannot live in a record)

Everything a settled request leaves is written at once, so there is no settled marker to finish and
no close: the landed record is the proof that the settle happened. Unit cost for an unlimited key:
delete 2 + balance 2 + record 2 (+1 for its day index) = 7 write units, where the settle, history and
close used to cost 4 + 3 + 1 (the hold was updated to a settled marker, then deleted).

A settle that cannot land (the store kept failing) stores the charge and record it computed on the
open hold, so maintenance settles the served request at its real charge instead of refunding it.

A refused settle is read from its conditions: the hold gone is a settle that already happened (a
repeat, a lost response, or maintenance first) and its record — returned by the refused put — is the
answer; a hold still there but settled is a marker left by an older version (finished as before); a
key part that no longer applies (rotated, limit removed, period ended) is dropped; an overrun the
balance cannot pay takes what is there and the rest is a shortfall.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tollway.dynamo import AttrValue, N, S, TransactionCancelled, retry_store, transact
from tollway.errors import StoreUnavailable
from tollway.ledger.codecs import OPEN, movement_of
from tollway.ledger.keyops import settle_key_op
from tollway.ledger.landed import from_record, remember_due, settled_before
from tollway.ledger.model import HoldRequest, Movement, SettleDeferred
from tollway.ledger.settlement import SettlePlan, build_settle_movement, plan_settle
from tollway.records import UsageRecord
from tollway.records_dynamo import entry_to_item, record_to_item
from tollway.tables import Tables

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["RecordShape", "settle"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class RecordShape:
    """How usage records are stored: day-index shards and the TTL in days (0: kept forever)."""

    shards: int = 8
    ttl_days: int = 0

    @property
    def debit_in_record(self) -> bool:
        """Whether a record can be its request's ledger debit (only if records are kept forever)."""
        return self.ttl_days <= 0


def settle(
    client: DynamoDBClient,
    tables: Tables,
    hold: HoldRequest,
    cost: int,
    record: UsageRecord,
    *,
    now: int,
    shape: RecordShape = RecordShape(),
) -> Movement | None:
    """Settle a hold at ``cost`` once, writing its record and debit and closing it in the same
    transaction; ``None`` if it was closed before without a record (nothing to finish).

    Raises:
        SettleDeferred: the settle could not land, but its charge and record are stored on the open
            hold (one small conditional write): maintenance settles it at that charge.
        StoreUnavailable: neither landed; the hold stays open and maintenance refunds it.
    """
    try:
        return _settle(client, tables, hold, cost, record, now=now, shape=shape)
    except StoreUnavailable as failed:
        landed = remember_due(client, tables, hold, cost, record)
        if landed is True:
            raise SettleDeferred(hold.hold_id, cost) from failed
        if landed is False:
            # the hold is no longer open: the settle landed after all (its answer lost) or maintenance
            # settled it — what it left is the answer, as for any repeated settle
            return settled_before(client, tables, hold)
        raise


def _settle(
    client: DynamoDBClient,
    tables: Tables,
    hold: HoldRequest,
    cost: int,
    record: UsageRecord,
    *,
    now: int,
    shape: RecordShape,
) -> Movement | None:
    available: int | None = None
    request = hold
    for _ in range(8):
        plan = plan_settle(cost, request.amount, available)
        movement = _closed_movement(request, plan, record, now, shape)
        items, at = _settle_items(tables, movement, request, plan.delta, plan.take_excess, shape)
        try:
            transact(client, items, movement_id=movement.movement_id)
            return movement
        except TransactionCancelled as cancelled:
            if cancelled.failed(0) is not None:
                return _settled_already(client, tables, hold, cancelled, at)
            if cancelled.failed(at.record) is not None:
                # A record under this request id while its hold is still open: request ids are unique,
                # so this is a bug, not a race — refuse loudly rather than overwrite a record.
                raise StoreUnavailable(f"A record already exists for the open hold {hold.hold_id}.") from cancelled
            old_key = cancelled.failed(at.key) if at.key is not None else None
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
            old_account = cancelled.failed(at.account) if at.account is not None else None
            learned = [int(o["balance"]["N"]) for o in (old_account,) if o and "balance" in o]
            learned += [int(old_key["remaining"]["N"])] if old_key and "remaining" in old_key else []
            # An overrun takes what is there; the rest is a shortfall the operator sees.
            available = max(0, min(learned)) if learned else 0
    plan = plan_settle(cost, request.amount, 0)
    movement = _closed_movement(request, plan, record, now, shape)
    items, at = _settle_items(tables, movement, request, plan.delta, 0, shape)
    try:
        transact(client, items, movement_id=movement.movement_id)
    except TransactionCancelled as cancelled:
        if cancelled.failed(0) is not None:
            return _settled_already(client, tables, hold, cancelled, at)
        raise StoreUnavailable("Could not settle the request.") from cancelled
    return movement


def _settled_already(
    client: DynamoDBClient, tables: Tables, hold: HoldRequest, cancelled: TransactionCancelled, at: _Positions
) -> Movement | None:
    """The answer to a settle refused because its hold is no longer open: settled already (a repeat, a
    lost response, or maintenance got there first), so what that settle wrote is the answer — an older
    version's settled marker (returned by the refused hold condition), or the record (returned by the
    refused record put)."""
    old_hold = cancelled.failed(0)
    if old_hold:
        return movement_of(old_hold)
    return from_record(client, tables, hold, cancelled.failed(at.record) or None)


def _closed_movement(
    request: HoldRequest, plan: SettlePlan, record: UsageRecord, now: int, shape: RecordShape
) -> Movement:
    """The movement this settle writes whole: when records are kept, the record carries the debit."""
    movement = build_settle_movement(request, plan, record, now)
    final = movement.record
    if final is not None and shape.debit_in_record and movement.entries:
        final = final.replace(debit=movement.charge)
    return dataclasses.replace(movement, record=final, closed=True)


@dataclasses.dataclass(frozen=True, slots=True)
class _Positions:
    """Where the items whose refusal means something sit in the settle transaction."""

    record: int
    account: int | None = None
    key: int | None = None


def _settle_items(
    tables: Tables, movement: Movement, request: HoldRequest, delta: int, take_excess: int, shape: RecordShape
) -> tuple[list[dict[str, Any]], _Positions]:
    """The settle transaction, with the positions of its account, key and record items."""
    items = [_close_op(tables, movement)]
    account_at = key_at = None
    if delta:
        account_at = len(items)
        items.append(_balance_op(tables, request, delta, take_excess))
    key_op = settle_key_op(tables.keys, request, delta, take_excess)
    if key_op is not None:
        key_at = len(items)
        items.append(key_op)
    record_at = len(items)
    items.append(_record_op(tables, movement, shape))
    if not shape.debit_in_record:
        # Records expire: the charge is a ledger entry of its own. Unconditional: keyed by the request
        # id, and the hold's settle-once condition already stops a second settle.
        items += [{"Put": {"TableName": tables.ledger, "Item": entry_to_item(e)}} for e in movement.entries]
    return items, _Positions(record=record_at, account=account_at, key=key_at)


def _close_op(tables: Tables, movement: Movement) -> dict[str, Any]:
    return {
        "Delete": {
            "TableName": tables.holds,
            "Key": {"hold_id": S(movement.movement_id)},
            # settle once: only an open hold can be settled (request, maintenance and retries race
            # here); deleting it is the close — the record written beside it is the proof
            "ConditionExpression": "#st = :open",
            "ExpressionAttributeNames": {"#st": "state"},
            "ExpressionAttributeValues": {":open": OPEN},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def _record_op(tables: Tables, movement: Movement, shape: RecordShape) -> dict[str, Any]:
    if movement.record is None:
        raise ValueError("a settle always writes its record")
    return {
        "Put": {
            "TableName": tables.usage,
            "Item": record_to_item(movement.record, shards=shape.shards, ttl_days=shape.ttl_days),
            # one record per request id; a refusal returns the record a settle already wrote
            "ConditionExpression": "attribute_not_exists(request_id)",
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
