"""What happens when news about a task arrives — from a callback, a poll, or a client's fetch.

1. the news is applied only if it moves the task forward (``TaskStore.apply``);
2. then, whatever the news did, the task's follow-ups run on its stored state, each idempotent:
   the refund of a failed, cancelled or timed-out task (exactly once, by the store's condition), the
   relay-mode image copy of a finished one, the notifyHook delivery of a new state;
3. a task with nothing left to do is closed (dropped from the sweep's open list).

Running the follow-ups on every piece of news, not only on news that changed something, is what
finishes a job a crash interrupted: a duplicate callback or the next poll completes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from tollway.mj.images import ImageCopier
from tollway.mj.model import TERMINAL_RANK, Phase, StateUpdate, Task, TaskStatus
from tollway.mj.notify import Notifier
from tollway.mj.ports import RefundOutcome
from tollway.mj.refunds import refund_movement

if TYPE_CHECKING:
    from tollway.mj.context import TaskRuntime

__all__ = ["TIMEOUT_FLAG", "TaskEngine"]

log = logging.getLogger(__name__)

#: Set in a task's view when tollway itself failed it for taking too long.
TIMEOUT_FLAG = "tollwayTimeout"


class TaskEngine:
    def __init__(self, runtime: TaskRuntime) -> None:
        self._rt = runtime
        self.notifier = Notifier(runtime)
        self.images = ImageCopier(runtime)

    def observe(self, task: Task, update: StateUpdate, now: int, *, deliver: bool = True) -> Task:
        """Apply upstream news to an accepted task, then run its follow-ups (blocking)."""
        applied, current = self._rt.tasks.apply(task.task_id, update, now)
        if applied:
            log.info("task %s: %s %s", task.task_id, update.status.value, update.progress)
        return self.followups(current or task, now, deliver=deliver)

    def time_out(self, task: Task, now: int) -> Task:
        """Fail a task that did not finish in time (tollway's own clock); it is refunded like a failure."""
        limit_s = self._rt.options().task_timeout_s
        view = {
            **task.view,
            "failReason": f"task timed out: no result within {int(limit_s)} s",
            "finishTime": now,
            TIMEOUT_FLAG: True,
        }
        return self.observe(task, StateUpdate(TaskStatus.FAILURE, task.progress, view), now)

    def followups(self, task: Task, now: int, *, deliver: bool = True) -> Task:
        """Refund, copy, deliver, close: whatever the task's stored state still calls for."""
        if not task.open or task.phase is not Phase.ACCEPTED:
            return task
        if task.refund_due:
            task = self._refund(task, now)
        if self.images.wanted(task):
            task = self.images.copy(task)
        if deliver and self.notifier.due(task, now):
            task = self.notifier.deliver(task, now)
        if self._finished(task):
            self._rt.tasks.close(task.task_id)
            task = task.replace(open=False)
        return task

    def later(self, moved: list[Task]) -> Callable[[], None] | None:
        """The follow-ups of tasks a read moved forward, to run after the answer is sent (None: none)."""
        if not moved:
            return None

        def run() -> None:
            now = self._rt.svc.clock_ms()
            for task in moved:
                self.followups(task, now)

        return run

    def _finished(self, task: Task) -> bool:
        if not task.terminal or task.refund_due or self.images.wanted(task):
            return False
        return not task.notify_hook or task.hook_rank >= TERMINAL_RANK

    def _refund(self, task: Task, now: int) -> Task:
        if task.view.get(TIMEOUT_FLAG):
            reason = "timeout"
        elif task.status is TaskStatus.CANCEL:
            reason = "cancel"
        else:
            reason = "failure"
        svc = self._rt.svc
        record = svc.usage.get(task.account_id, task.hold_id)
        movement = refund_movement(task, record, reason, now)
        outcome = self._rt.tasks.refund(task, movement, now)
        if outcome is RefundOutcome.DONE:
            log.info("task %s refunded %d micro-USD (%s)", task.task_id, task.charge, reason)
            svc.biller.finish(movement)
            return task.replace(refunded_at=now)
        if outcome is RefundOutcome.DEFERRED:
            log.info("refund of task %s waits for its submit's history", task.task_id)
            return task
        stored = self._rt.tasks.get(task.task_id)
        return stored or task
