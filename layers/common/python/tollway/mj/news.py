"""Reading an upstream task (a callback body, a fetch or list-by-condition item) as a state update.

Only the fields clients read are kept (the task's ``view``); internal upstream fields (``clientIp``,
``userId``, ``nonce``, ``accountFilter``, ``properties.notifyHook``…) never enter it. Failure is
detected as new-api does: status FAILURE/CANCEL, or an unfinished progress with a failReason.
"""

from __future__ import annotations

from typing import Any

from tollway.mj.model import StateUpdate, TaskStatus, progress_percent

__all__ = ["VIEW_FIELDS", "state_of"]

#: Upstream fields copied into a task's view (and nothing else).
VIEW_FIELDS = (
    "promptEn",
    "description",
    "imageUrl",
    "videoUrl",
    "videoUrls",
    "buttons",
    "startTime",
    "finishTime",
    "failReason",
)
_PROPERTIES = ("finalPrompt", "finalZhPrompt")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def state_of(raw: Any) -> StateUpdate | None:
    """The update an upstream task describes, or None if it is not a task at all."""
    if not isinstance(raw, dict):
        return None
    try:
        status = TaskStatus(_text(raw.get("status")) or TaskStatus.NOT_START.value)
    except ValueError:
        return None
    progress = _text(raw.get("progress"))
    fail_reason = _text(raw.get("failReason"))
    if status not in (TaskStatus.SUCCESS, TaskStatus.FAILURE, TaskStatus.CANCEL) and fail_reason:
        if progress_percent(progress) < 100:
            status = TaskStatus.FAILURE  # new-api's rule: an unfinished task with a failReason failed
    view: dict[str, Any] = {name: raw[name] for name in VIEW_FIELDS if raw.get(name) not in (None, "", [])}
    properties = raw.get("properties")
    if isinstance(properties, dict):
        kept = {k: properties[k] for k in _PROPERTIES if isinstance(properties.get(k), str)}
        if kept:
            view["properties"] = kept
    if status is TaskStatus.SUCCESS:
        progress = "100%"
    return StateUpdate(status=status, progress=progress, view=view)
