"""The free Suno routes: ``GET /suno/fetch/<id>`` and ``POST /suno/fetch {"ids": [...]}``.

Both are answered from tollway's own tasks, scoped to the caller: another account's task id is simply
not found (and not listed). An unfinished task not heard of for ``refresh_after_s`` is refreshed from
its upstream first (one call per channel), under the shared forward-only rule; the follow-ups of what
moved (the refund of a failed task) run after the answer is sent. No usage record: reads are free.
"""

from __future__ import annotations

from typing import Any

from tollway.errors import InvalidRequest, TaskNotFound
from tollway.mj.model import Phase
from tollway.suno.model import KIND, is_task_id
from tollway.suno.poll import refresh
from tollway.suno.render import render_task, success
from tollway.tasks.reads import parse_ids

from relay.suno.call import Answer, SunoCall, owned_task
from relay.suno.errors import suno_error

__all__ = ["MAX_IDS", "fetch_many", "fetch_one"]

MAX_IDS = 200


def fetch_one(call: SunoCall, task_id: str) -> Answer:
    task = owned_task(call, task_id)
    if task is None:
        return Answer(*suno_error(TaskNotFound("task_not_exist", code="task_not_exist")))
    srt = call.srt
    (fresh,), moved = refresh(srt, [task], srt.svc.clock_ms())
    return Answer(200, success(render_task(fresh)), srt.engine.later(moved))


def _ids(data: Any) -> list[str] | None:
    """``{"ids": [...]}`` (strings, or numbers some clients send); a missing list is an empty one."""
    if not isinstance(data, dict):
        return None
    raw = data.get("ids")
    if raw is None:
        return []
    ids = parse_ids(raw)
    return None if ids is None else list(dict.fromkeys(ids))


def fetch_many(call: SunoCall, data: Any) -> Answer:
    ids = _ids(data)
    if ids is None:
        return Answer(*suno_error(InvalidRequest('the body must be {"ids": [task ids]}')))
    if len(ids) > MAX_IDS:
        return Answer(*suno_error(InvalidRequest(f"at most {MAX_IDS} ids per request")))
    srt = call.srt
    account_id = call.context.account.account_id
    found = {
        t.task_id: t
        for t in srt.tasks.get_many([i for i in ids if is_task_id(i)])
        if t.account_id == account_id and t.kind == KIND and t.phase is Phase.ACCEPTED
    }
    ordered = [found[i] for i in ids if i in found]  # the order the client asked in
    fresh, moved = refresh(srt, ordered, srt.svc.clock_ms())
    return Answer(200, success([render_task(t) for t in fresh]), srt.engine.later(moved))
