"""Delivering a task to the client's own ``notifyHook``.

What is sent is tollway's task JSON (the same as a fetch returns, with the task's image mode), never
the upstream's, signed with the account's webhook secret (``X-Tollway-Signature``) and carrying an
event id (``<task id>:<rank>``) receivers can deduplicate on. Deliveries are deduplicated by state: a
state is delivered once it is newer than the last one delivered, and one deliverer at a time holds the
task's lease. Every URL goes through the SSRF guard.

At least once for the final state: a round of up to three attempts (0.25 s and 1 s apart), then
rounds rescheduled by the sweep with growing backoff, for about a day. Intermediate states are sent
best-effort (one attempt; the next state supersedes them).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import httpx2
import orjson

from tollway.mj.model import TERMINAL_RANK, Task
from tollway.mj.render import render_task
from tollway.mj.signing import SIGNATURE_HEADER, sign_payload
from tollway.ssrf import Blocked, TooLarge

if TYPE_CHECKING:
    from tollway.mj.context import TaskRuntime

__all__ = ["EVENT_HEADER", "Notifier", "ROUND_BACKOFF_S"]

log = logging.getLogger(__name__)

EVENT_HEADER = "X-Tollway-Event-Id"
#: Seconds between the attempts of one round.
_IN_ROUND_S = (0.25, 1.0)
#: Seconds before each further round of a final state (the last entry ends the retries).
ROUND_BACKOFF_S = (30, 120, 600, 1800, 7200, 21600, 43200)
_LEASE_MS = 120_000


class Notifier:
    def __init__(self, runtime: TaskRuntime, *, sleep: object = time.sleep) -> None:
        self._rt = runtime
        self._sleep = sleep if callable(sleep) else time.sleep

    def due(self, task: Task, now: int) -> bool:
        """A state not yet delivered, and not waiting for its next round."""
        if not task.notify_hook or task.hook_rank >= task.rank:
            return False
        return task.hook_attempts == 0 or now >= task.hook_next_at

    def deliver(self, task: Task, now: int) -> Task:
        """Deliver the task's current state (blocking). Returns the task as it now stands."""
        hook = task.notify_hook
        if not hook or not self.due(task, now):
            return task
        tasks = self._rt.tasks
        if not tasks.claim_hook(task.task_id, task.rank, now, _LEASE_MS):
            return task  # delivered meanwhile, or another deliverer is at it
        body = orjson.dumps(render_task(task, task.image_mode, self._rt.links(task.public_base, now)))
        secret = self._rt.keys.hook_secret(task.account_id)
        final = task.terminal
        error: str | None = None
        for attempt in range(3 if final else 1):
            if attempt:
                self._sleep(_IN_ROUND_S[attempt - 1])
            headers = {
                "content-type": "application/json",
                "user-agent": "tollway-webhook/1",
                SIGNATURE_HEADER: sign_payload(secret, body, int(time.time())),
                EVENT_HEADER: f"{task.task_id}:{task.rank}",
                "X-Tollway-Task-Id": task.task_id,
            }
            try:
                response = self._rt.http.request("POST", hook, content=body, headers=headers)
            except Blocked as blocked:
                # Never retried: the address will not become acceptable.
                log.warning("notifyHook of task %s refused by the SSRF guard: %s", task.task_id, blocked.reason)
                tasks.hook_failed(
                    task.task_id, attempts=task.hook_attempts + 1, next_at=0, error=f"blocked: {blocked.reason}"
                )
                return task.replace(hook_rank=TERMINAL_RANK, hook_error=f"blocked: {blocked.reason}")
            except (TooLarge, httpx2.HTTPError) as exc:
                error = type(exc).__name__
                continue
            if 200 <= response.status < 300:
                tasks.hook_done(task.task_id, task.rank)
                return task.replace(hook_rank=task.rank, hook_error=None)
            error = f"HTTP {response.status}"
        return self._failed(task, now, error or "failed", final)

    def _failed(self, task: Task, now: int, error: str, final: bool) -> Task:
        tasks = self._rt.tasks
        if not final:
            # Best effort for an intermediate state: release the lease, keep the schedule as it was.
            tasks.hook_failed(task.task_id, attempts=task.hook_attempts, next_at=task.hook_next_at, error=None)
            return task
        rounds = task.hook_attempts + 1
        if rounds > len(ROUND_BACKOFF_S):
            log.warning("notifyHook of task %s given up after %d rounds: %s", task.task_id, rounds, error)
            tasks.hook_failed(task.task_id, attempts=rounds, next_at=0, error=f"gave up: {error}")
            return task.replace(hook_attempts=rounds, hook_rank=TERMINAL_RANK, hook_error=f"gave up: {error}")
        next_at = now + ROUND_BACKOFF_S[rounds - 1] * 1000
        tasks.hook_failed(task.task_id, attempts=rounds, next_at=next_at, error=None)
        return task.replace(hook_attempts=rounds, hook_next_at=next_at)
