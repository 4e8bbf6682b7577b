"""The task store on DynamoDB (``TasksTable``: key ``task_id``; sparse index ``open`` on
``open_shard`` + ``created_at`` listing the tasks that still need attention).

The refund is the one MJ-specific ledger operation. One transaction::

    tasks[t]      SET refunded_at            IF not refunded AND accepted AND charge = C AND status failed
    accounts[a]   ADD balance C              IF the account exists
    keys[h]       ADD remaining C            IF the key still has a limit          (limited keys only)
                  ADD day_left/month_left C  IF the cap still counts the submit's day/month (capped keys)
    holds[t:r]    PUT settled refund marker  IF new                                ← history follows it
    holds[req]    (condition only)           IF the submit's own marker is closed  ← its record is written

The last condition orders the two writes of the submit's usage record: the refund's rewrite (final
charge) always lands after the submit's own, never under it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tollway.dynamo import AttrValue, B, N, S, TransactionCancelled, error_code, retry_store, transact
from tollway.errors import StoreUnavailable
from tollway.guards import day_period, month_period
from tollway.ledger.dynamodb import DynamoLedger
from tollway.ledger.model import Movement
from tollway.mj.model import TERMINAL_RANK, Phase, StateUpdate, Task, TaskStatus
from tollway.mj.ports import RefundOutcome, TaskExists
from tollway.tables import Tables

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["DynamoTasks", "item_to_task", "task_to_item"]

OPEN_INDEX = "open"
_SHARDS = 4
_JSON_FIELDS = frozenset({"view"})
_NAMES = {"#st": "status", "#rk": "rank", "#vw": "view", "#ph": "phase"}


def _refund_key_op(keys_table: str, task: Task, item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The key's part of a refund: its own limit and the spend caps of the submit's own day and month
    get the charge back (None: nothing of the key to give back to)."""
    if not item:
        return None
    adds: list[str] = []
    # the key still exists (ADD would otherwise create a bare one)
    conditions = ["attribute_exists(key_hash)"]
    values: dict[str, AttrValue] = {":amt": N(task.charge)}
    if task.key_limited and "remaining" in item:
        adds.append("remaining :amt")
        conditions.append("attribute_exists(remaining)")  # ... AND it still has a limit
    for period, left, current in (
        ("day_period", "day_left", day_period(task.created_at)),
        ("month_period", "month_left", month_period(task.created_at)),
    ):
        if item.get(period, {}).get("S") == current and left in item:
            adds.append(f"{left} :amt")
            values[f":{period}"] = S(current)
            conditions.append(f"{period} = :{period}")  # ... AND the cap still counts the submit's period
    if not adds:
        return None
    return {
        "Update": {
            "TableName": keys_table,
            "Key": {"key_hash": S(task.key_hash)},
            "UpdateExpression": "ADD " + ", ".join(adds),
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def _shard(task_id: str) -> str:
    digest = hashlib.blake2b(task_id.encode(), digest_size=2).digest()
    return f"open#{int.from_bytes(digest, 'big') % _SHARDS}"


def task_to_item(task: Task, *, ttl_days: int = 0) -> dict[str, AttrValue]:
    item: dict[str, AttrValue] = {}
    for name, value in task.to_json().items():
        if name == "open" or value is None or value == "":
            continue
        if name in _JSON_FIELDS:
            item[name] = S(json.dumps(value, separators=(",", ":")))
        elif isinstance(value, bool):
            item[name] = B(value)
        elif isinstance(value, int):
            item[name] = N(value)
        else:
            item[name] = S(str(value))
    if task.open:
        item["open_shard"] = S(_shard(task.task_id))
    if ttl_days > 0:
        item["expires_at"] = N(task.created_at // 1000 + ttl_days * 86400)
    return item


def item_to_task(item: Mapping[str, Any]) -> Task:
    data: dict[str, Any] = {}
    for name, attr in item.items():
        if "S" in attr:
            data[name] = json.loads(attr["S"]) if name in _JSON_FIELDS else attr["S"]
        elif "N" in attr:
            data[name] = int(attr["N"])
        elif "BOOL" in attr:
            data[name] = attr["BOOL"]
    data["open"] = "open_shard" in item
    return Task.from_json(data)


class DynamoTasks:
    """:class:`tollway.mj.ports.TaskStore` on DynamoDB."""

    def __init__(
        self, client: DynamoDBClient, table: str, tables: Tables, ledger: DynamoLedger, *, ttl_days: int = 0
    ) -> None:
        self._c = client
        self._table = table
        self._t = tables
        self._ledger = ledger
        self._ttl_days = ttl_days

    def _key(self, task_id: str) -> dict[str, AttrValue]:
        return {"task_id": S(task_id)}

    def _update(self, task_id: str, **kwargs: Any) -> dict[str, Any] | None:
        """An UpdateItem; the new item, or None if its condition failed."""
        try:
            response = retry_store(lambda: self._c.update_item(TableName=self._table, Key=self._key(task_id), **kwargs))
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise StoreUnavailable("The task store rejected the update.") from exc
        attributes: dict[str, Any] = response.get("Attributes", {})
        return attributes

    def create(self, task: Task) -> None:
        try:
            retry_store(
                lambda: self._c.put_item(
                    TableName=self._table,
                    Item=task_to_item(task, ttl_days=self._ttl_days),
                    # a new id only: ids are minted, and a collision mints another
                    ConditionExpression="attribute_not_exists(task_id)",
                )
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise TaskExists(task.task_id) from exc
            raise StoreUnavailable("The task store rejected the task.") from exc

    def get(self, task_id: str) -> Task | None:
        item = retry_store(
            lambda: self._c.get_item(TableName=self._table, Key=self._key(task_id), ConsistentRead=True)
        ).get("Item")
        return None if item is None else item_to_task(item)

    def get_many(self, task_ids: list[str]) -> list[Task]:
        wanted = list(dict.fromkeys(task_ids))
        found: list[Task] = []
        for start in range(0, len(wanted), 100):
            keys: list[dict[str, Any]] = [self._key(t) for t in wanted[start : start + 100]]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            for _ in range(8):
                response = retry_store(lambda r=request: self._c.batch_get_item(RequestItems=r))  # type: ignore[misc]
                found.extend(item_to_task(i) for i in response.get("Responses", {}).get(self._table, []))
                request = dict(response.get("UnprocessedKeys") or {})
                if not request:
                    break
        return found

    def accept(
        self, task_id: str, *, upstream_id: str, channel_id: str, charge: int, update: StateUpdate, now: int
    ) -> Task | None:
        new = self._update(
            task_id,
            UpdateExpression=(
                "SET #ph = :accepted, upstream_id = :up, channel_id = :ch, charge = :charge, #st = :st, "
                "progress = :pr, #rk = :rk, #vw = :vw, updated_at = :now"
            ),
            # accept once, and only a pending task (never resurrect a discarded one)
            ConditionExpression="#ph = :pending",
            ExpressionAttributeNames=_NAMES,
            ExpressionAttributeValues={
                ":accepted": S(Phase.ACCEPTED.value),
                ":pending": S(Phase.PENDING.value),
                ":up": S(upstream_id),
                ":ch": S(channel_id),
                ":charge": N(charge),
                ":st": S(update.status.value),
                ":pr": S(update.progress),
                ":rk": N(update.rank),
                ":vw": S(json.dumps(update.view, separators=(",", ":"))),
                ":now": N(now),
            },
            ReturnValues="ALL_NEW",
        )
        return None if new is None else item_to_task(new)

    def discard(self, task_id: str) -> None:
        try:
            retry_store(
                lambda: self._c.delete_item(
                    TableName=self._table,
                    Key=self._key(task_id),
                    # only a task the upstream never accepted
                    ConditionExpression="#ph = :pending",
                    ExpressionAttributeNames={"#ph": "phase"},
                    ExpressionAttributeValues={":pending": S(Phase.PENDING.value)},
                )
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise StoreUnavailable("The task store rejected the delete.") from exc

    def apply(self, task_id: str, update: StateUpdate, now: int) -> tuple[bool, Task | None]:
        new = self._update(
            task_id,
            UpdateExpression="SET #st = :st, progress = :pr, #rk = :rk, #vw = :vw, updated_at = :now",
            # forward only: an accepted task whose stored state ranks lower than this news
            ConditionExpression="#ph = :accepted AND #rk < :rk",
            ExpressionAttributeNames=_NAMES,
            ExpressionAttributeValues={
                ":accepted": S(Phase.ACCEPTED.value),
                ":st": S(update.status.value),
                ":pr": S(update.progress),
                ":rk": N(update.rank),
                ":vw": S(json.dumps(update.view, separators=(",", ":"))),
                ":now": N(now),
            },
            ReturnValues="ALL_NEW",
        )
        if new is not None:
            return True, item_to_task(new)
        return False, self.get(task_id)

    def confirm_modal(self, task_id: str, now: int) -> Task | None:
        new = self._update(
            task_id,
            UpdateExpression="SET #st = :submitted, progress = :zero, updated_at = :now",
            # only a task waiting for its modal; the MODAL rank is kept so a late MODAL report is ignored
            ConditionExpression="#st = :modal",
            ExpressionAttributeNames={"#st": "status"},
            ExpressionAttributeValues={
                ":submitted": S(TaskStatus.SUBMITTED.value),
                ":modal": S(TaskStatus.MODAL.value),
                ":zero": S("0%"),
                ":now": N(now),
            },
            ReturnValues="ALL_NEW",
        )
        return None if new is None else item_to_task(new)

    # ---- the refund ------------------------------------------------------------------------------

    def refund(self, task: Task, movement: Movement, now: int) -> RefundOutcome:
        amount = N(task.charge)
        task_op = {
            "Update": {
                "TableName": self._table,
                "Key": self._key(task.task_id),
                "UpdateExpression": "SET refunded_at = :now",
                # exactly once: not refunded yet, accepted and charged this amount, and failed/cancelled
                "ConditionExpression": (
                    "attribute_not_exists(refunded_at) AND #ph = :accepted AND charge = :amt AND charge > :zero "
                    "AND #st IN (:failure, :cancel)"
                ),
                "ExpressionAttributeNames": {"#ph": "phase", "#st": "status"},
                "ExpressionAttributeValues": {
                    ":now": N(now),
                    ":accepted": S(Phase.ACCEPTED.value),
                    ":amt": amount,
                    ":zero": N(0),
                    ":failure": S(TaskStatus.FAILURE.value),
                    ":cancel": S(TaskStatus.CANCEL.value),
                },
            }
        }
        account_op = {
            "Update": {
                "TableName": self._t.accounts,
                "Key": {"account_id": S(task.account_id)},
                "UpdateExpression": "ADD balance :amt",
                # the account still exists (ADD would otherwise create a bare one)
                "ConditionExpression": "attribute_exists(account_id)",
                "ExpressionAttributeValues": {":amt": amount},
            }
        }
        marker = self._ledger.marker_put(movement, now)
        marker["Put"]["Item"]["kind"] = S("refund")
        record = movement.record_json()
        if record is not None:
            marker["Put"]["Item"]["record"] = S(record)
        submit_closed = {
            "ConditionCheck": {
                "TableName": self._t.holds,
                "Key": {"hold_id": S(task.hold_id)},
                # the submit's marker is closed: its history (and usage record) is written
                "ConditionExpression": "attribute_not_exists(hold_id)",
            }
        }
        key_item = self._key_item(task.key_hash)
        for _ in range(3):
            key_op = _refund_key_op(self._t.keys, task, key_item)
            items = [task_op, account_op, marker, submit_closed] + ([key_op] if key_op is not None else [])
            try:
                transact(self._c, items, movement_id=movement.movement_id)
                return RefundOutcome.DONE
            except TransactionCancelled as cancelled:
                old_marker = cancelled.failed(2)
                if old_marker and old_marker.get("created_at") == N(now):
                    # this very refund landed (its response was lost): done, once
                    return RefundOutcome.DONE
                if cancelled.failed(0) is not None:
                    return RefundOutcome.NOT_DUE
                if cancelled.failed(3) is not None:
                    return RefundOutcome.DEFERRED
                old_key = cancelled.failed(4) if key_op is not None else None
                if old_key is not None:
                    # the key changed meanwhile (limit removed, a period rolled over, rotated away):
                    # give back to what it has now
                    key_item = old_key or None
                    continue
                raise StoreUnavailable(f"Could not refund task {task.task_id}.") from cancelled
        raise StoreUnavailable(f"Could not refund task {task.task_id}.")  # pragma: no cover

    def _key_item(self, key_hash: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = retry_store(
            lambda: self._c.get_item(TableName=self._t.keys, Key={"key_hash": S(key_hash)}, ConsistentRead=True)
        ).get("Item")
        return item

    # ---- notifyHook delivery ---------------------------------------------------------------------

    def claim_hook(self, task_id: str, rank: int, now: int, lease_ms: int) -> bool:
        new = self._update(
            task_id,
            UpdateExpression="SET hook_lease = :until",
            # this state is not delivered yet AND no other deliverer holds a live lease
            ConditionExpression=(
                "attribute_exists(task_id) AND hook_rank < :rk "
                "AND (attribute_not_exists(hook_lease) OR hook_lease <= :now)"
            ),
            ExpressionAttributeValues={":until": N(now + lease_ms), ":rk": N(rank), ":now": N(now)},
        )
        return new is not None

    def hook_done(self, task_id: str, rank: int) -> None:
        done = self._update(
            task_id,
            UpdateExpression="SET hook_rank = :rk REMOVE hook_lease, hook_error",
            # never lower the delivered rank (a slower deliverer of an older state finishing late)
            ConditionExpression="attribute_exists(task_id) AND hook_rank < :rk",
            ExpressionAttributeValues={":rk": N(rank)},
        )
        if done is None:
            self._update(
                task_id,
                UpdateExpression="REMOVE hook_lease",
                ConditionExpression="attribute_exists(task_id)",  # never create an item
            )

    def hook_failed(self, task_id: str, *, attempts: int, next_at: int, error: str | None) -> None:
        values: dict[str, AttrValue] = {":a": N(attempts), ":n": N(next_at)}
        expression = "SET hook_attempts = :a, hook_next_at = :n"
        if error is not None:
            # given up: the error is kept for the operator and nothing is delivered any more
            expression += ", hook_error = :e, hook_rank = :done"
            values.update({":e": S(error[:500]), ":done": N(TERMINAL_RANK)})
        self._update(
            task_id,
            UpdateExpression=expression + " REMOVE hook_lease",
            ConditionExpression="attribute_exists(task_id)",  # never create an item
            ExpressionAttributeValues=values,
        )

    # ---- image copy, closing, listing ------------------------------------------------------------

    def set_image(self, task_id: str, *, image_key: str | None, error: str | None) -> None:
        sets: list[str] = []
        removes: list[str] = []
        values: dict[str, AttrValue] = {}
        for name, value in (("image_key", image_key), ("image_error", error)):
            if value is None:
                removes.append(name)
            else:
                sets.append(f"{name} = :{name}")
                values[f":{name}"] = S(value[:500])
        expression = ("SET " + ", ".join(sets) if sets else "") + (" REMOVE " + ", ".join(removes) if removes else "")
        kwargs: dict[str, Any] = {"UpdateExpression": expression.strip()}
        if values:
            kwargs["ExpressionAttributeValues"] = values
        self._update(task_id, ConditionExpression="attribute_exists(task_id)", **kwargs)  # never create

    def close(self, task_id: str) -> None:
        self._update(
            task_id,
            UpdateExpression="REMOVE open_shard",
            ConditionExpression="attribute_exists(task_id)",  # never create an item
        )

    def open_tasks(self, limit: int) -> list[Task]:
        found: list[Task] = []
        for shard in range(_SHARDS):
            paginator = self._c.get_paginator("query")
            for page in paginator.paginate(
                TableName=self._table,
                IndexName=OPEN_INDEX,
                KeyConditionExpression="open_shard = :s",
                ExpressionAttributeValues={":s": S(f"open#{shard}")},
                ScanIndexForward=True,
                PaginationConfig={"MaxItems": limit, "PageSize": min(limit, 500)},
            ):
                found.extend(item_to_task(i) for i in page.get("Items", []))
        found.sort(key=lambda t: t.created_at)
        return found[:limit]
