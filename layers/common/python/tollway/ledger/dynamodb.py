"""The ledger on DynamoDB.

Timeline of one billed request (4 writes; the first is the only one before the upstream call)::

    reserve ─ TransactWriteItems on the small hot tables
    │   accounts[a]  balance -= hold        IF exists AND status = active AND balance >= hold
    │                                       (unlimited key without guards: AND key_rev = the rev its
    │                                       cached copy was read with — any key change moves it)
    │   keys[h]      remaining -= hold      IF status = active AND not expired AND remaining >= hold
    │                (limited or guarded keys only; + the key's guards: caps, rate, concurrency — keyops.py)
    │   holds[r]     put {state: open}      IF attribute_not_exists(hold_id)     ← makes a repeat a no-op
    ▼
    upstream call
    ▼
    settle ─ TransactWriteItems on the small hot tables
    │   holds[r]     state = settled + entries + record   IF state = open         ← settle-once
    │   accounts[a]  balance += hold − charged            (an overrun: IF balance >= taken)
    │   keys[h]      remaining += hold − charged          (limited keys only; guarded keys: caps
    │                                                     get the unused part back, the lease is released)
    ▼
    history ─ BatchWriteItem: ledger entries + usage record (content fully determined by the settled
    │         marker, keyed by request id: a repeat rewrites identical items)
    ▼
    close ─ DeleteItem holds[r]  IF state = settled

A crash after settle leaves the settled marker; maintenance writes its history and closes it. A crash
before settle leaves an open hold; maintenance refunds it once it is older than the function timeout.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tollway.dynamo import AttrValue, B, N, S, TransactionCancelled, error_code, retry_store, transact
from tollway.errors import StoreUnavailable
from tollway.guards import Plan, first_plan, guard_rejection, plan_from_state
from tollway.ledger.keyops import guards_of_item, reserve_key_op, settle_key_op, state_of_item
from tollway.ledger.model import (
    AuditReport,
    GuardUse,
    Hold,
    HoldRejected,
    HoldRequest,
    HoldState,
    LedgerEntry,
    Movement,
    RejectReason,
)
from tollway.ledger.settlement import build_credit_movement, build_settle_movement, plan_settle
from tollway.records import UsageRecord
from tollway.records_dynamo import entry_to_item, record_to_item
from tollway.tables import Tables

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DynamoLedger"]

_ACTIVE = S("active")
_OPEN = S(HoldState.OPEN.value)
_SETTLED = S(HoldState.SETTLED.value)


class DynamoLedger:
    """:class:`tollway.ledger.LedgerStore` on DynamoDB."""

    def __init__(self, client: DynamoDBClient, tables: Tables, *, usage_shards: int = 8, usage_ttl_days: int = 0):
        self._c = client
        self._t = tables
        self._shards = usage_shards
        self._ttl_days = usage_ttl_days

    @property
    def client(self) -> DynamoDBClient:
        return self._c

    @property
    def tables(self) -> Tables:
        return self._t

    # ---- reserve -------------------------------------------------------------------------------

    def reserve(self, request: HoldRequest) -> HoldRequest:
        now_s = int(time.time())
        plan = None if request.guards is None else first_plan(request.guards)
        # Two attempts at most for a guarded key: the second fits the periods the first one revealed
        # (a new day, month or minute started); a third covers a period rolled by another process.
        for _ in range(3):
            current = request if plan is None else dataclasses.replace(request, guards=plan.use)
            items = [self._reserve_account_op(current)]
            if not _by_key_rev(current):
                items.append(reserve_key_op(self._t.keys, current, plan, now_s))
            items.append(self._reserve_hold_op(current))
            try:
                transact(self._c, items)
                return current
            except TransactionCancelled as cancelled:
                old_hold = cancelled.failed(len(items) - 1)
                if old_hold:
                    same = old_hold["account_id"]["S"] == request.account_id
                    if same and int(old_hold["amount"]["N"]) == request.amount:
                        return _hold_of(old_hold).request()  # this very reserve already happened
                    raise StoreUnavailable("A request id was reused.") from cancelled
                outcome = _rejection(cancelled, request, plan, now_s)
                if isinstance(outcome, HoldRejected):
                    raise outcome from cancelled
                plan = outcome
        raise StoreUnavailable("The key's guard counters kept changing; nothing was charged. Please retry.")

    def _reserve_account_op(self, request: HoldRequest) -> dict[str, Any]:
        # account exists AND is active AND can pay the whole worst case
        condition = "attribute_exists(account_id) AND #st = :active AND balance >= :amt"
        values = {":amt": N(request.amount), ":active": _ACTIVE}
        if _by_key_rev(request):
            # ... AND none of its keys changed since the caller's copy of this one was read (the key
            # item is not part of this write: this condition stands in for its status/limit/guards)
            if request.key_rev:
                condition += " AND key_rev = :krev"
                values[":krev"] = N(request.key_rev)
            else:
                condition += " AND attribute_not_exists(key_rev)"
        return {
            "Update": {
                "TableName": self._t.accounts,
                "Key": {"account_id": S(request.account_id)},
                "UpdateExpression": "SET balance = balance - :amt",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#st": "status"},
                "ExpressionAttributeValues": values,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _reserve_hold_op(self, request: HoldRequest) -> dict[str, Any]:
        item: dict[str, AttrValue] = {
            "hold_id": S(request.hold_id),
            "account_id": S(request.account_id),
            "state": _OPEN,
            "kind": S("request"),
            "amount": N(request.amount),
            "created_at": N(request.created_at),
            "key_hash": S(request.key_hash),
            "key_id": S(request.key_id),
            "key_limited": B(request.key_limited),
            "endpoint": S(request.endpoint),
            **({"model": S(request.model)} if request.model else {}),
            **_guard_attributes(request.guards),
        }
        return {
            "Put": {
                "TableName": self._t.holds,
                "Item": item,
                # a new hold only: a repeated reserve (boto3 retry after success) fails here and is a no-op
                "ConditionExpression": "attribute_not_exists(hold_id)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    # ---- settle --------------------------------------------------------------------------------

    def settle(self, hold: HoldRequest, cost: int, record: UsageRecord, *, now: int) -> Movement | None:
        available: int | None = None
        request = hold
        for _ in range(8):
            plan = plan_settle(cost, request.amount, available)
            movement = build_settle_movement(request, plan, record, now)
            items, account_at, key_at = self._settle_items(movement, request, plan.delta, plan.take_excess, now)
            try:
                transact(self._c, items)
                return movement
            except TransactionCancelled as cancelled:
                old_hold = cancelled.failed(0)
                if old_hold is not None:
                    # Settled already (a repeat, or maintenance got there first) or closed: nothing to do.
                    return _movement_of(old_hold) if old_hold else None
                old_key = cancelled.failed(key_at) if key_at is not None else None
                if old_key is not None:
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
        items, _, _ = self._settle_items(movement, request, plan.delta, 0, now)
        try:
            transact(self._c, items)
        except TransactionCancelled as cancelled:
            old_hold = cancelled.failed(0)
            if old_hold is not None:
                return _movement_of(old_hold) if old_hold else None
            raise StoreUnavailable("Could not settle the request.") from cancelled
        return movement

    def _settle_items(
        self, movement: Movement, request: HoldRequest, delta: int, take_excess: int, now: int
    ) -> tuple[list[dict[str, Any]], int | None, int | None]:
        """The settle transaction, with the positions of its account and key items."""
        items = [self._settle_hold_op(movement, now)]
        account_at = key_at = None
        if delta:
            account_at = len(items)
            items.append(self._settle_balance_op(request, delta, take_excess))
        key_op = settle_key_op(self._t.keys, request, delta, take_excess)
        if key_op is not None:
            key_at = len(items)
            items.append(key_op)
        return items, account_at, key_at

    def _settle_hold_op(self, movement: Movement, now: int) -> dict[str, Any]:
        values: dict[str, AttrValue] = {
            ":open": _OPEN,
            ":settled": _SETTLED,
            ":now": N(now),
            ":charge": N(movement.charge),
            ":shortfall": N(movement.shortfall),
            ":entries": S(movement.entries_json()),
        }
        expression = (
            "SET #st = :settled, settled_at = :now, charge = :charge, shortfall = :shortfall, entries = :entries"
        )
        record = movement.record_json()
        if record is not None:
            values[":record"] = S(record)
            expression += ", #rec = :record"
        return {
            "Update": {
                "TableName": self._t.holds,
                "Key": {"hold_id": S(movement.movement_id)},
                "UpdateExpression": expression,
                # settle once: only an open hold can be settled (request, maintenance and retries race here)
                "ConditionExpression": "#st = :open",
                "ExpressionAttributeNames": {"#st": "state", **({"#rec": "record"} if record is not None else {})},
                "ExpressionAttributeValues": values,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _settle_balance_op(self, request: HoldRequest, delta: int, take_excess: int) -> dict[str, Any]:
        values: dict[str, AttrValue] = {":delta": N(delta)}
        condition = "attribute_exists(account_id)"
        if take_excess:
            # an overrun takes only what the balance holds: never below zero
            condition += " AND balance >= :take"
            values[":take"] = N(take_excess)
        return {
            "Update": {
                "TableName": self._t.accounts,
                "Key": {"account_id": S(request.account_id)},
                "UpdateExpression": "ADD balance :delta",
                "ConditionExpression": condition,
                "ExpressionAttributeValues": values,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    # ---- credits -------------------------------------------------------------------------------

    def credit(
        self, account_id: str, amount: int, *, movement_id: str, reason: str, actor: str | None, now: int
    ) -> Movement:
        movement = build_credit_movement(
            account_id, amount, movement_id=movement_id, reason=reason, actor=actor, now=now
        )
        values: dict[str, AttrValue] = {":amt": N(amount)}
        condition = "attribute_exists(account_id)"
        if amount < 0:
            # a debit never takes the balance below zero
            condition += " AND balance >= :need"
            values[":need"] = N(-amount)
        account_op = {
            "Update": {
                "TableName": self._t.accounts,
                "Key": {"account_id": S(account_id)},
                "UpdateExpression": "ADD balance :amt",
                "ConditionExpression": condition,
                "ExpressionAttributeValues": values,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        try:
            transact(self._c, [account_op, self.marker_put(movement, now)])
        except TransactionCancelled as cancelled:
            old_marker = cancelled.failed(1)
            if old_marker:
                # This credit already happened (a repeat); its history may already be written too.
                return _movement_of(old_marker) or movement
            old_account = cancelled.failed(0)
            if old_account is not None and not old_account:
                raise HoldRejected(RejectReason.ACCOUNT_MISSING) from cancelled
            balance = int(old_account["balance"]["N"]) if old_account else None
            raise HoldRejected(RejectReason.BALANCE, account_balance=balance) from cancelled
        return movement

    def marker_put(self, movement: Movement, now: int) -> dict[str, Any]:
        """The transaction item that records a movement born settled (credits, account creation)."""
        item: dict[str, AttrValue] = {
            "hold_id": S(movement.movement_id),
            "account_id": S(movement.account_id),
            "state": _SETTLED,
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
                "TableName": self._t.holds,
                "Item": item,
                # one marker per movement id: a repeated credit is a no-op
                "ConditionExpression": "attribute_not_exists(hold_id)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    # ---- history and close ---------------------------------------------------------------------

    def write_history(self, movement: Movement) -> None:
        requests: dict[str, list[dict[str, Any]]] = {}
        if movement.entries:
            requests[self._t.ledger] = [{"PutRequest": {"Item": entry_to_item(e)}} for e in movement.entries]
        if movement.record is not None:
            item = record_to_item(movement.record, shards=self._shards, ttl_days=self._ttl_days)
            requests.setdefault(self._t.usage, []).append({"PutRequest": {"Item": item}})
        # Unconditional puts are repeat-safe here: every item is a pure function of the settled marker,
        # which never changes once settled, and is keyed by the movement's id.
        for attempt in range(8):
            if not requests:
                return
            response = retry_store(functools.partial(self._c.batch_write_item, RequestItems=requests))  # type: ignore[arg-type]
            requests = response.get("UnprocessedItems", {})  # type: ignore[assignment]
            if requests:
                time.sleep(min(0.5, 0.02 * 2**attempt))
        raise StoreUnavailable("Could not write the request's history; maintenance will finish it.")

    def close(self, movement_id: str) -> None:
        try:
            retry_store(
                lambda: self._c.delete_item(
                    TableName=self._t.holds,
                    Key={"hold_id": S(movement_id)},
                    # only a settled marker is closed; an open hold is never dropped unpaid
                    ConditionExpression="#st = :settled",
                    ExpressionAttributeNames={"#st": "state"},
                    ExpressionAttributeValues={":settled": _SETTLED},
                )
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise StoreUnavailable("Could not close the hold.") from exc

    def put_record(self, record: UsageRecord) -> None:
        item = record_to_item(record, shards=self._shards, ttl_days=self._ttl_days)
        try:
            retry_store(
                lambda: self._c.put_item(
                    TableName=self._t.usage,
                    Item=item,
                    # one record per request id
                    ConditionExpression="attribute_not_exists(request_id)",
                )
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise StoreUnavailable("Could not write the usage record.") from exc

    # ---- reads ---------------------------------------------------------------------------------

    def holds(self) -> list[Hold]:
        paginator = self._c.get_paginator("scan")
        out: list[Hold] = []
        for page in paginator.paginate(TableName=self._t.holds, ConsistentRead=True):
            out.extend(_hold_of(item) for item in page.get("Items", []))
        return out

    def balance(self, account_id: str) -> int | None:
        item = retry_store(
            lambda: self._c.get_item(TableName=self._t.accounts, Key={"account_id": S(account_id)}, ConsistentRead=True)
        ).get("Item")
        return None if item is None else int(item["balance"]["N"])

    def account_ids(self) -> list[str]:
        paginator = self._c.get_paginator("scan")
        ids: list[str] = []
        for page in paginator.paginate(TableName=self._t.accounts, ProjectionExpression="account_id"):
            ids.extend(item["account_id"]["S"] for item in page.get("Items", []))
        return ids

    def credits(self, account_id: str, *, limit: int, max_read: int) -> list[LedgerEntry]:
        from tollway.records_dynamo import item_to_entry

        found: list[LedgerEntry] = []
        read = 0
        start: dict[str, Any] | None = None
        while read < max_read and len(found) < limit:
            args: dict[str, Any] = {
                "TableName": self._t.ledger,
                "KeyConditionExpression": "account_id = :a",
                "FilterExpression": "kind IN (:c, :d)",
                "ExpressionAttributeValues": {":a": S(account_id), ":c": S("credit"), ":d": S("debit")},
                "ScanIndexForward": False,  # entry ids begin with their movement's time: newest first
                "Limit": min(1000, max_read - read),
            }
            if start is not None:
                args["ExclusiveStartKey"] = start
            page = retry_store(lambda args=args: self._c.query(**args))  # type: ignore[misc]
            read += int(page.get("ScannedCount", 0))
            found.extend(item_to_entry(i) for i in page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if start is None:
                break
        return found[:limit]

    def audit(self, account_id: str, holds: list[Hold] | None = None) -> AuditReport:
        holds = self.holds() if holds is None else holds
        written: dict[str, int] = {}
        paginator = self._c.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._t.ledger,
            KeyConditionExpression="account_id = :a",
            ExpressionAttributeValues={":a": S(account_id)},
            ProjectionExpression="entry_id, amount",
            ConsistentRead=True,
        ):
            for item in page.get("Items", []):
                written[item["entry_id"]["S"]] = int(item["amount"]["N"])
        pending = open_total = 0
        for hold in holds:
            if hold.account_id != account_id:
                continue
            if hold.state is HoldState.OPEN:
                open_total += hold.amount
            elif hold.movement is not None:
                pending += sum(e.amount for e in hold.movement.entries if e.entry_id not in written)
        balance = self.balance(account_id)
        return AuditReport(
            account_id=account_id,
            balance=0 if balance is None else balance,
            entries_total=sum(written.values()),
            pending_total=pending,
            open_holds_total=open_total,
            entries=len(written),
        )


def _rejection(
    cancelled: TransactionCancelled, request: HoldRequest, plan: Plan | None, now_s: int
) -> HoldRejected | Plan:
    """Turn a cancelled reserve into what it means, statuses before money; or, for a guarded key whose
    stored periods differ from the attempt's, the plan of the next attempt."""
    old_account = cancelled.failed(0)
    old_key = None if _by_key_rev(request) else cancelled.failed(1)
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
    if _by_key_rev(request) and int(old_account.get("key_rev", {}).get("N", "0")) != request.key_rev:
        return HoldRejected(RejectReason.KEY_KIND_CHANGED)  # read the account and key again
    return None


def _by_key_rev(request: HoldRequest) -> bool:
    """The reserve stands on the account's key_rev instead of the key item (see the module's timeline)."""
    return request.key_rev is not None and not request.key_limited and request.guards is None


def _guard_attributes(use: GuardUse | None) -> dict[str, AttrValue]:
    """What a hold remembers of its guards, so settle (or maintenance) can undo exactly that."""
    if use is None:
        return {}
    item: dict[str, AttrValue] = {"g_rev": N(use.rev), "g_lease": B(use.lease)}
    if use.day is not None:
        item["g_day"] = S(use.day)
    if use.month is not None:
        item["g_month"] = S(use.month)
    return item


def _guards_of_hold(item: Mapping[str, Any]) -> GuardUse | None:
    if "g_rev" not in item:
        return None
    return GuardUse(
        rev=int(item["g_rev"]["N"]),
        day=item["g_day"]["S"] if "g_day" in item else None,
        month=item["g_month"]["S"] if "g_month" in item else None,
        lease=bool(item.get("g_lease", {}).get("BOOL", False)),
    )


def _trim_key_parts(request: HoldRequest, old_key: Mapping[str, Any]) -> HoldRequest:
    """The settle request without the key parts a refused write shows no longer apply."""
    if not old_key:
        return _without_key(request)  # the key is gone (rotated): settle the account alone
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


def _movement_of(item: Mapping[str, Any]) -> Movement | None:
    if item.get("state", {}).get("S") != HoldState.SETTLED.value or "entries" not in item:
        return None
    return Movement.from_parts(
        movement_id=item["hold_id"]["S"],
        account_id=item["account_id"]["S"],
        entries=item["entries"]["S"],
        record=item["record"]["S"] if "record" in item else None,
        charge=int(item.get("charge", {"N": "0"})["N"]),
        shortfall=int(item.get("shortfall", {"N": "0"})["N"]),
    )


def _hold_of(item: Mapping[str, Any]) -> Hold:
    return Hold(
        hold_id=item["hold_id"]["S"],
        account_id=item["account_id"]["S"],
        state=HoldState(item["state"]["S"]),
        amount=int(item["amount"]["N"]),
        created_at=int(item["created_at"]["N"]),
        kind=item.get("kind", {}).get("S", "request"),
        key_hash=item.get("key_hash", {}).get("S"),
        key_id=item.get("key_id", {}).get("S"),
        key_limited=bool(item.get("key_limited", {}).get("BOOL", False)),
        settled_at=int(item["settled_at"]["N"]) if "settled_at" in item else None,
        movement=_movement_of(item),
        endpoint=item.get("endpoint", {}).get("S", ""),
        model=item.get("model", {}).get("S"),
        guards=_guards_of_hold(item),
    )
