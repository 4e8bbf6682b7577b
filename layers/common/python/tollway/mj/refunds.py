"""The refund of a failed task as a ledger movement (pure; both task stores write it).

A refund is its own balance movement: a settled marker ``<submit request id>:refund`` in the holds
table carrying one REFUND entry (+charge) and the submit's usage record rewritten with its final
charge. The marker is written in the same transaction as the balance and the task's ``refunded_at``
(the exactly-once condition), so its history follows the usual marker → history → close path and
maintenance finishes it after a crash.
"""

from __future__ import annotations

from tollway.ledger.model import EntryKind, LedgerEntry, Movement
from tollway.mj.model import Task
from tollway.records import RecordStatus, UsageRecord

__all__ = ["refund_id_of", "refund_movement"]


def refund_id_of(task: Task) -> str:
    return f"{task.hold_id}:refund"


def refund_movement(task: Task, submit_record: UsageRecord | None, reason: str, now: int) -> Movement:
    """The movement that gives ``task.charge`` back; ``submit_record`` is the submit's usage record
    as written (None if it has expired: a minimal one is rebuilt from the task)."""
    movement_id = refund_id_of(task)
    entry = LedgerEntry(
        account_id=task.account_id,
        entry_id=f"{movement_id}#refund",
        kind=EntryKind.REFUND,
        amount=task.charge,
        movement_id=movement_id,
        created_at=now,
        reason=f"{task.kind} task {task.task_id}: {reason}",
        key_id=task.key_id,
    )
    record = submit_record or UsageRecord(
        request_id=task.hold_id,
        created_at=task.created_at,
        account_id=task.account_id,
        key_id=task.key_id,
        endpoint=f"{task.kind}.{task.action.lower()}",
        status=RecordStatus.OK,
        http_status=200,
        model=task.price_key,
        channel_id=task.channel_id,
        hold=task.price,
        charge=task.charge,
        task_id=task.task_id,
        entry_ids=(f"{task.hold_id}#charge",),
    )
    final = record.replace(
        status=RecordStatus.ERROR,
        error_code=f"{task.kind}_task_{reason}",  # mj_task_failure, suno_task_timeout, …
        charge=max(record.charge - task.charge, 0),
        entry_ids=(*record.entry_ids, entry.entry_id),
    )
    return Movement(movement_id=movement_id, account_id=task.account_id, entries=(entry,), record=final)
