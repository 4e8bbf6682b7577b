"""In-memory task store: the reference semantics the DynamoDB store must match.

It shares the memory backend's lock, so a refund changes the task, the balance, the key's limit and
the holds table in one atomic step, as the DynamoDB transaction does.
"""

from __future__ import annotations

import dataclasses

from tollway.guards import day_period, month_period
from tollway.ledger.model import Hold, HoldState, Movement
from tollway.memory.backend import MemoryBackend
from tollway.mj.model import TERMINAL_RANK, Phase, StateUpdate, Task, TaskStatus
from tollway.mj.ports import RefundOutcome, TaskExists

__all__ = ["MemoryTasks"]


class MemoryTasks:
    def __init__(self, backend: MemoryBackend) -> None:
        self._b = backend
        self._tasks: dict[str, Task] = {}
        self._leases: dict[str, int] = {}

    def create(self, task: Task) -> None:
        with self._b.lock:
            if task.task_id in self._tasks:
                raise TaskExists(task.task_id)
            self._tasks[task.task_id] = task

    def get(self, task_id: str) -> Task | None:
        with self._b.lock:
            return self._tasks.get(task_id)

    def get_many(self, task_ids: list[str]) -> list[Task]:
        with self._b.lock:
            return [self._tasks[t] for t in dict.fromkeys(task_ids) if t in self._tasks]

    def accept(
        self, task_id: str, *, upstream_id: str, channel_id: str, charge: int, update: StateUpdate, now: int
    ) -> Task | None:
        with self._b.lock:
            task = self._tasks.get(task_id)
            if task is None or task.phase is not Phase.PENDING:
                return None
            accepted = task.replace(
                phase=Phase.ACCEPTED,
                upstream_id=upstream_id,
                channel_id=channel_id,
                charge=charge,
                status=update.status,
                progress=update.progress,
                rank=update.rank,
                view=update.view,
                updated_at=now,
            )
            self._tasks[task_id] = accepted
            return accepted

    def discard(self, task_id: str) -> None:
        with self._b.lock:
            task = self._tasks.get(task_id)
            if task is not None and task.phase is Phase.PENDING:
                del self._tasks[task_id]

    def apply(self, task_id: str, update: StateUpdate, now: int) -> tuple[bool, Task | None]:
        with self._b.lock:
            task = self._tasks.get(task_id)
            if task is None or task.phase is not Phase.ACCEPTED or update.rank <= task.rank:
                return False, task
            moved = task.replace(
                status=update.status, progress=update.progress, rank=update.rank, view=update.view, updated_at=now
            )
            self._tasks[task_id] = moved
            return True, moved

    def confirm_modal(self, task_id: str, now: int) -> Task | None:
        with self._b.lock:
            task = self._tasks.get(task_id)
            if task is None or task.status is not TaskStatus.MODAL:
                return None
            confirmed = task.replace(status=TaskStatus.SUBMITTED, progress="0%", updated_at=now)
            self._tasks[task_id] = confirmed
            return confirmed

    def refund(self, task: Task, movement: Movement, now: int) -> RefundOutcome:
        b = self._b
        with b.lock:
            stored = self._tasks.get(task.task_id)
            # The same conditions as the DynamoDB transaction, checked and applied under one lock.
            if (
                stored is None
                or stored.refunded_at is not None
                or stored.phase is not Phase.ACCEPTED
                or stored.charge != task.charge
                or stored.charge <= 0
                or not stored.failed
            ):
                return RefundOutcome.NOT_DUE
            if stored.hold_id in b.holds:
                return RefundOutcome.DEFERRED  # the submit's history is not written yet
            account = b.accounts.get(stored.account_id)
            if account is None or movement.movement_id in b.holds:
                return RefundOutcome.NOT_DUE
            b.accounts[account.account_id] = dataclasses.replace(account, balance=account.balance + stored.charge)
            key = b.keys.get(stored.key_hash)
            if key is not None:
                # the own limit, and the caps of the submit's own day and month, get the charge back
                remaining = key.remaining
                if stored.key_limited and remaining is not None:
                    remaining += stored.charge
                state = key.guard_state
                if state.day_period == day_period(stored.created_at) and state.day_left is not None:
                    state = dataclasses.replace(state, day_left=state.day_left + stored.charge)
                if state.month_period == month_period(stored.created_at) and state.month_left is not None:
                    state = dataclasses.replace(state, month_left=state.month_left + stored.charge)
                b.keys[key.key_hash] = dataclasses.replace(key, remaining=remaining, guard_state=state)
            b.holds[movement.movement_id] = Hold(
                hold_id=movement.movement_id,
                account_id=stored.account_id,
                state=HoldState.SETTLED,
                amount=0,
                created_at=now,
                kind="refund",
                settled_at=now,
                movement=movement,
            )
            self._tasks[task.task_id] = stored.replace(refunded_at=now)
            return RefundOutcome.DONE

    def claim_hook(self, task_id: str, rank: int, now: int, lease_ms: int) -> bool:
        with self._b.lock:
            task = self._tasks.get(task_id)
            if task is None or task.hook_rank >= rank or self._leases.get(task_id, 0) > now:
                return False
            self._leases[task_id] = now + lease_ms
            return True

    def hook_done(self, task_id: str, rank: int) -> None:
        with self._b.lock:
            task = self._tasks.get(task_id)
            self._leases.pop(task_id, None)
            if task is not None and rank > task.hook_rank:
                self._tasks[task_id] = task.replace(hook_rank=rank, hook_error=None)

    def hook_failed(self, task_id: str, *, attempts: int, next_at: int, error: str | None) -> None:
        with self._b.lock:
            task = self._tasks.get(task_id)
            self._leases.pop(task_id, None)
            if task is not None:
                given_up = TERMINAL_RANK if error is not None else task.hook_rank
                self._tasks[task_id] = task.replace(
                    hook_attempts=attempts, hook_next_at=next_at, hook_error=error, hook_rank=given_up
                )

    def set_image(self, task_id: str, *, image_key: str | None, error: str | None) -> None:
        with self._b.lock:
            task = self._tasks.get(task_id)
            if task is not None:
                self._tasks[task_id] = task.replace(image_key=image_key, image_error=error)

    def close(self, task_id: str) -> None:
        with self._b.lock:
            task = self._tasks.get(task_id)
            if task is not None:
                self._tasks[task_id] = task.replace(open=False)

    def open_tasks(self, limit: int) -> list[Task]:
        with self._b.lock:
            found = sorted((t for t in self._tasks.values() if t.open), key=lambda t: t.created_at)
            return found[:limit]
