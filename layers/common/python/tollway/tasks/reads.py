"""A client's read of its tasks: the unfinished ones that went quiet are refreshed from their upstream.

One rule for every provider: a task past the timeout is failed (and refunded) at once; one that has not
moved for ``refresh_after_s`` is read from its channel's upstream, and the news is applied under the
forward-only rule (``TaskStore.apply``). The provider says how to read (:data:`ReadStates`); the moved
tasks' follow-ups run after the answer is sent (``TaskEngine.later``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from tollway.mj.model import Phase, StateUpdate, Task

if TYPE_CHECKING:
    from tollway.mj.engine import TaskEngine
    from tollway.mj.options import MjOptions
    from tollway.mj.ports import TaskStore

__all__ = ["ReadStates", "TaskReads", "parse_ids", "refresh"]

#: A provider's read of one channel's tasks: each task's news by task id (missing: no news), or None
#: when the channel cannot be read now (gone, or its upstream down: the stored state is served).
ReadStates = Callable[[str, list[Task]], dict[str, StateUpdate] | None]


class TaskReads(Protocol):
    """What a refresh needs of a provider's runtime."""

    @property
    def tasks(self) -> TaskStore: ...

    @property
    def engine(self) -> TaskEngine: ...

    def options(self) -> MjOptions: ...


def refresh(rt: TaskReads, read: ReadStates, tasks: list[Task], now: int) -> tuple[list[Task], list[Task]]:
    """Refresh the stale unfinished tasks among ``tasks``; ``(tasks as now stored, tasks that moved)``."""
    options = rt.options()
    stale_ms = int(options.refresh_after_s * 1000)
    timeout_ms = int(options.task_timeout_s * 1000)
    current = {t.task_id: t for t in tasks}
    moved: list[Task] = []
    groups: dict[str, list[Task]] = defaultdict(list)
    for task in tasks:
        if task.phase is not Phase.ACCEPTED or task.terminal or not task.upstream_id:
            continue
        if now - task.created_at > timeout_ms:
            current[task.task_id] = rt.engine.time_out(task, now)  # refunded at once, not at the next sweep
        elif now - task.updated_at >= stale_ms:
            groups[task.channel_id].append(task)
    for channel_id, group in groups.items():
        news = read(channel_id, group)
        if news is None:
            continue  # the stored state is served; the sweep polls again
        for task in group:
            update = news.get(task.task_id)
            if update is None:
                continue
            applied, stored = rt.tasks.apply(task.task_id, update, now)
            if applied and stored is not None:
                current[task.task_id] = stored
                moved.append(stored)
    return [current[t.task_id] for t in tasks], moved


def parse_ids(raw: Any) -> list[str] | None:
    """A list-by-ids body's ``ids``: strings or JSON numbers (some clients send numbers), stripped; None
    when it is not a list of those."""
    if not isinstance(raw, list):
        return None
    ids: list[str] = []
    for value in raw:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return None
        ids.append(str(value).strip())
    return ids
