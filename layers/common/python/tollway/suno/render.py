"""A Suno task as clients read it (new-api's ``TaskDto``), and the protocol's ``{code, message, data}``
envelopes.

Nothing upstream-specific leaks: ``task_id`` is tollway's, and any value in ``data`` that is the upstream's
task id is replaced by tollway's (a lyrics task's ``data.id`` is the upstream id). Times are
epoch seconds (MJ's are ms).
"""

from __future__ import annotations

from typing import Any

from tollway.mj.model import Phase, Task

__all__ = ["error", "render_task", "success"]

_RUNNING = frozenset({"NOT_START", "SUBMITTED", "QUEUED", "IN_PROGRESS"})


def success(data: Any) -> dict[str, Any]:
    return {"code": "success", "message": "", "data": data}


def error(code: str, message: str) -> dict[str, Any]:
    """new-api's ``TaskError`` as clients receive it."""
    return {"code": code, "message": message, "data": None}


def _seconds(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _ours(value: Any, upstream_id: str, task_id: str) -> Any:
    """``value`` with every string that *is* the upstream id replaced (URLs that merely contain it are
    left working)."""
    if isinstance(value, str):
        return task_id if value == upstream_id else value
    if isinstance(value, list):
        return [_ours(v, upstream_id, task_id) for v in value]
    if isinstance(value, dict):
        return {k: _ours(v, upstream_id, task_id) for k, v in value.items()}
    return value


def _status(task: Task) -> str:
    if task.phase is Phase.PENDING:
        return "NOT_START"
    if task.terminal:
        return task.status.value
    upstream = task.view.get("status")
    return upstream if isinstance(upstream, str) and upstream in _RUNNING else task.status.value


def render_task(task: Task) -> dict[str, Any]:
    view = task.view
    # tollway's own failures (the timeout, an interrupted submit) are written MJ-style by the shared engine.
    fail_reason = view.get("fail_reason") or view.get("failReason") or ""
    finish = _seconds(view.get("finish_time")) or _seconds(view.get("finishTime")) // 1000
    data = view.get("data")
    if data is not None and task.upstream_id:
        data = _ours(data, task.upstream_id, task.task_id)
    return {
        "task_id": task.task_id,
        "action": task.action,
        "status": _status(task),
        "fail_reason": fail_reason if isinstance(fail_reason, str) else "",
        "submit_time": task.created_at // 1000,
        "start_time": _seconds(view.get("start_time")),
        "finish_time": finish,
        "progress": "100%" if task.terminal else (task.progress or "0%"),
        "data": data,
    }
