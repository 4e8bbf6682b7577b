"""One request to a Suno route, and how its answers are sent."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tollway.auth import KeyContext
from tollway.mj.model import Phase, Task
from tollway.suno.model import KIND, is_task_id
from tollway.suno.runtime import SunoRuntime

__all__ = ["Answer", "SunoCall", "owned_task"]


@dataclass
class Answer:
    """HTTP status, JSON body, and what to run after the body was sent (a refund, say)."""

    status: int
    body: Any
    after: Callable[[], None] | None = None


@dataclass
class SunoCall:
    srt: SunoRuntime
    context: KeyContext
    request_id: str
    started: float
    created_at: int

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)


def owned_task(call: SunoCall, task_id: str) -> Task | None:
    """The caller's own accepted Suno task, or None (unknown and another account's look the same)."""
    task = call.srt.tasks.get(task_id) if is_task_id(task_id) else None
    if task is None or task.account_id != call.context.account.account_id:
        return None
    return task if task.kind == KIND and task.phase is Phase.ACCEPTED else None
