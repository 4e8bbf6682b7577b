"""The task store protocol. Implemented on DynamoDB (``dynamodb.py``) and in memory (``memory.py``);
both pass the same contract tests (tests/unit/tollway/mj/test_task_store_contract.py).

Every write is conditional and safe to repeat: a state update only moves a task forward, a refund
happens at most once, a hook lease is held by one deliverer at a time.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from tollway.ledger.model import Movement
from tollway.mj.model import StateUpdate, Task

__all__ = ["RefundOutcome", "TaskExists", "TaskStore"]


class TaskExists(Exception):
    """A task with this id exists already (mint another id)."""


class RefundOutcome(StrEnum):
    DONE = "done"  # refunded now: write the movement's history, then close its marker
    NOT_DUE = "not_due"  # refunded before, or nothing to refund (not charged, not failed)
    DEFERRED = "deferred"  # the submit's own history is not written yet: try again later


class TaskStore(Protocol):
    def create(self, task: Task) -> None:
        """Store a new (pending) task.

        Raises:
            TaskExists: the id is taken.
        """

    def get(self, task_id: str) -> Task | None:
        """The task (strongly consistent), or None."""

    def get_many(self, task_ids: list[str]) -> list[Task]:
        """The tasks that exist among ``task_ids`` (any order)."""

    def accept(
        self, task_id: str, *, upstream_id: str, channel_id: str, charge: int, update: StateUpdate, now: int
    ) -> Task | None:
        """Mark a pending task accepted upstream and charged. None if it was not pending."""

    def discard(self, task_id: str) -> None:
        """Delete a pending task the upstream refused (no-op otherwise)."""

    def apply(self, task_id: str, update: StateUpdate, now: int) -> tuple[bool, Task | None]:
        """Apply ``update`` if it moves the accepted task forward (its rank is higher).

        Returns ``(applied, task as stored now)``; the task is None if it does not exist.
        """

    def confirm_modal(self, task_id: str, now: int) -> Task | None:
        """A MODAL task was confirmed upstream: it is SUBMITTED again (its rank is kept)."""

    def refund(self, task: Task, movement: Movement, now: int) -> RefundOutcome:
        """Give ``task.charge`` back, exactly once, atomically with the refund's settled marker.

        ``movement`` holds the REFUND entry and the submit's usage record with its final charge.
        """

    def claim_hook(self, task_id: str, rank: int, now: int, lease_ms: int) -> bool:
        """Take the notifyHook delivery of state ``rank`` (True), unless it was delivered or another
        deliverer holds an unexpired lease (False)."""

    def hook_done(self, task_id: str, rank: int) -> None:
        """``rank`` was delivered; the lease is released."""

    def hook_failed(self, task_id: str, *, attempts: int, next_at: int, error: str | None) -> None:
        """A delivery round failed; retry at ``next_at`` (``error`` set: give up)."""

    def set_image(self, task_id: str, *, image_key: str | None, error: str | None) -> None:
        """Record the relay-mode copy of the task's image (or why there is none)."""

    def close(self, task_id: str) -> None:
        """Nothing is left to do for the task: drop it from the open list."""

    def open_tasks(self, limit: int) -> list[Task]:
        """Tasks that still need attention, oldest first (possibly slightly stale)."""
