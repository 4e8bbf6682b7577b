"""The reserve: one transaction before the upstream call (see ``dynamodb.py`` for the whole timeline).

    accounts[a]  balance -= hold    IF exists AND status = active AND balance >= hold
                                    (unlimited key without guards: AND key_rev = the rev its cached
                                    copy was read with — any key change moves it)
    keys[h]      remaining -= hold  IF status = active AND not expired AND remaining >= hold
                 (limited or guarded keys only; + the key's guards: caps, rate, concurrency — keyops.py)
    holds[r]     put {state: open}  IF attribute_not_exists(hold_id)     ← makes a repeat a no-op

A refused reserve is read from the failed conditions (no extra read): statuses before money, and for a
guarded key whose periods rolled over, the plan of the next attempt. The hold's own condition failing
with this very hold stored is the reserve's own earlier write (a lost response): that is success.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tollway.dynamo import N, S, TransactionCancelled, transact
from tollway.errors import StoreUnavailable
from tollway.guards import Plan, first_plan, guard_rejection, plan_from_state
from tollway.ledger.codecs import ACTIVE, hold_item, hold_of
from tollway.ledger.keyops import guards_of_item, reserve_key_op, state_of_item
from tollway.ledger.model import HoldRejected, HoldRequest, RejectReason
from tollway.tables import Tables

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["by_key_rev", "reserve"]


def reserve(client: DynamoDBClient, tables: Tables, request: HoldRequest) -> HoldRequest:
    """Hold a request's worst case: the account (and key) pay it now, settle gives back the unused part."""
    now_s = int(time.time())
    plan = None if request.guards is None else first_plan(request.guards)
    # Two attempts at most for a guarded key: the second fits the periods the first one revealed
    # (a new day, month or minute started); a third covers a period rolled by another process.
    for _ in range(3):
        current = request if plan is None else dataclasses.replace(request, guards=plan.use)
        items = [_account_op(tables, current)]
        if not by_key_rev(current):
            items.append(reserve_key_op(tables.keys, current, plan, now_s))
        items.append(_hold_op(tables, current))
        try:
            transact(client, items, movement_id=current.hold_id)
            return current
        except TransactionCancelled as cancelled:
            old_hold = cancelled.failed(len(items) - 1)
            if old_hold:
                same = old_hold["account_id"]["S"] == request.account_id
                if same and int(old_hold["amount"]["N"]) == request.amount:
                    return hold_of(old_hold).request()  # this very reserve already happened
                raise StoreUnavailable("A request id was reused.") from cancelled
            outcome = _rejection(cancelled, request, plan, now_s)
            if isinstance(outcome, HoldRejected):
                raise outcome from cancelled
            plan = outcome
    raise StoreUnavailable("The key's guard counters kept changing; nothing was charged. Please retry.")


def _account_op(tables: Tables, request: HoldRequest) -> dict[str, Any]:
    # account exists AND is active AND can pay the whole worst case
    condition = "attribute_exists(account_id) AND #st = :active AND balance >= :amt"
    values = {":amt": N(request.amount), ":active": ACTIVE}
    if by_key_rev(request):
        # ... AND none of its keys changed since the caller's copy of this one was read (the key
        # item is not part of this write: this condition stands in for its status/limit/guards)
        if request.key_rev:
            condition += " AND key_rev = :krev"
            values[":krev"] = N(request.key_rev)
        else:
            condition += " AND attribute_not_exists(key_rev)"
    return {
        "Update": {
            "TableName": tables.accounts,
            "Key": {"account_id": S(request.account_id)},
            "UpdateExpression": "SET balance = balance - :amt",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#st": "status"},
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def _hold_op(tables: Tables, request: HoldRequest) -> dict[str, Any]:
    return {
        "Put": {
            "TableName": tables.holds,
            "Item": hold_item(request),
            # a new hold only: a repeated reserve (boto3 retry after success) fails here and is a no-op
            "ConditionExpression": "attribute_not_exists(hold_id)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def _rejection(
    cancelled: TransactionCancelled, request: HoldRequest, plan: Plan | None, now_s: int
) -> HoldRejected | Plan:
    """Turn a cancelled reserve into what it means, statuses before money; or, for a guarded key whose
    stored periods differ from the attempt's, the plan of the next attempt."""
    old_account = cancelled.failed(0)
    old_key = None if by_key_rev(request) else cancelled.failed(1)
    refused = _account_rejection(old_account, request)
    if refused is not None:
        return refused
    balance = int(old_account["balance"]["N"]) if old_account else None
    remaining: int | None = None
    if old_key is not None:
        if not old_key:
            return HoldRejected(RejectReason.KEY_MISSING)
        key_status = old_key.get("status", {}).get("S")
        if key_status == "revoked":
            return HoldRejected(RejectReason.KEY_REVOKED)
        if key_status != "active":
            return HoldRejected(RejectReason.KEY_DISABLED)
        expires = old_key.get("expires_at")
        if expires is not None and int(expires["N"]) <= now_s:
            return HoldRejected(RejectReason.KEY_EXPIRED)
        has_limit = "remaining" in old_key
        remaining = int(old_key["remaining"]["N"]) if has_limit else None
        guards = guards_of_item(old_key)
        stored_rev = None if guards is None else guards.rev
        wanted_rev = None if request.guards is None else request.guards.rev
        if has_limit != request.key_limited or stored_rev != wanted_rev:
            return HoldRejected(RejectReason.KEY_KIND_CHANGED, key_remaining=remaining)
        if plan is not None and request.guards is not None and guards is not None:
            state = state_of_item(old_key)
            fitted = plan_from_state(request.guards, state)
            if fitted != plan:
                return fitted  # a period rolled over (or another process rolled it): try again, fitted
            rejected = guard_rejection(
                plan, guards, state, request.amount, request.created_at, balance=balance, remaining=remaining
            )
            if rejected is not None:
                return rejected
    if balance is not None and balance < request.amount:
        return HoldRejected(RejectReason.BALANCE, account_balance=balance, key_remaining=remaining)
    if remaining is not None:
        return HoldRejected(RejectReason.KEY_LIMIT, account_balance=balance, key_remaining=remaining)
    raise StoreUnavailable("The reserve was refused for an unknown reason.")  # pragma: no cover


def _account_rejection(old_account: Mapping[str, Any] | None, request: HoldRequest) -> HoldRejected | None:
    """What a failed account condition says before money: missing, disabled, or a stale key copy."""
    if old_account is None:
        return None
    if not old_account:
        return HoldRejected(RejectReason.ACCOUNT_MISSING)
    if old_account.get("status", {}).get("S") != "active":
        return HoldRejected(RejectReason.ACCOUNT_DISABLED)
    if by_key_rev(request) and int(old_account.get("key_rev", {}).get("N", "0")) != request.key_rev:
        return HoldRejected(RejectReason.KEY_KIND_CHANGED)  # read the account and key again
    return None


def by_key_rev(request: HoldRequest) -> bool:
    """The reserve stands on the account's key_rev instead of the key item (see the module's timeline)."""
    return request.key_rev is not None and not request.key_limited and request.guards is None
