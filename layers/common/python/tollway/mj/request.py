"""Midjourney submit rules: validate the body, find the action, the parent task and the upstream call.

Every problem here is a business error raised as a class of the error tree: ``InvalidRequest`` (and
``NotFound``/``PermissionDenied`` in the relay's checks) becomes the MJ envelope (HTTP 200) with code 4,
``TaskNotFound`` code 3 (a task that does not exist — also another account's task: the two cannot be
told apart); ``relay.mj.errors`` holds the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tollway.errors import InvalidRequest, TaskNotFound
from tollway.mj.actions import (
    ACTIONS,
    ActionError,
    ActionSpec,
    action_of_change,
    action_of_custom_id,
    parse_simple_change,
)
from tollway.mj.model import Task, TaskStatus

__all__ = ["SUBMIT_ROUTES", "Owned", "SubmitPlan", "prepare"]

#: The caller's own accepted Midjourney task by id, or None (unknown and another account's look the same).
Owned = Callable[[str], Task | None]


@dataclass
class SubmitPlan:
    route: str  # the usage record's endpoint is ``mj.<route>``
    spec: ActionSpec
    upstream_path: str
    body: dict[str, Any]
    prompt: str = ""
    prompt_flags: bool = False  # the prompt may carry --fast/--relax/--turbo (and gets the billed one)
    parent: Task | None = None
    modal_of: Task | None = None  # /submit/modal confirms this task (no new task)
    creates_task: bool = True
    custom_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _text(data: dict[str, Any], name: str, *, required: bool = False, limit: int = 100_000) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise InvalidRequest(f"{name} is required")
        return ""
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a string")
    if required and not value.strip():
        raise InvalidRequest(f"{name} is required")
    if len(value) > limit:
        raise InvalidRequest(f"{name} is too long")
    return value


def _images(data: dict[str, Any], name: str, *, least: int, most: int) -> list[str]:
    value = data.get(name)
    if value is None and least == 0:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidRequest(f"{name} must be a list of image data URLs")
    if not least <= len(value) <= most:
        raise InvalidRequest(f"{name} must hold {least} to {most} images")
    return value


def _task_id(data: dict[str, Any]) -> str:
    value = data.get("taskId")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise InvalidRequest("taskId is required")
    return str(value).strip()


def _parent(owned: Owned, data: dict[str, Any], *, status: TaskStatus = TaskStatus.SUCCESS) -> Task:
    task_id = _task_id(data)
    parent = owned(task_id)
    if parent is None or not parent.upstream_id:
        raise TaskNotFound(f"task {task_id} not found")
    if parent.status is not status:
        raise InvalidRequest(f"task {task_id} is {parent.status.value}, not {status.value}", code="task_status")
    return parent


def _forward(data: dict[str, Any], parent: Task | None = None) -> dict[str, Any]:
    body = dict(data)
    if parent is not None:
        body["taskId"] = parent.upstream_id
    return body


def _action(owned: Owned, data: dict[str, Any]) -> SubmitPlan:
    custom_id = _text(data, "customId", required=True, limit=512)
    try:
        spec = action_of_custom_id(custom_id)
    except ActionError as exc:
        raise InvalidRequest(str(exc), code="unknown_action") from None
    parent = _parent(owned, data)
    return SubmitPlan("action", spec, "/submit/action", _forward(data, parent), parent.prompt, parent=parent,
                      custom_id=custom_id)  # fmt: skip


def _button_for(parent: Task, action: str, index: int) -> str | None:
    """The parent's button that does what a ``change`` asks (Plus upstreams dropped ``change``)."""
    wanted = {
        "UPSCALE": f"MJ::JOB::upsample::{index}::",
        "VARIATION": f"MJ::JOB::variation::{index}::",
        "REROLL": "MJ::JOB::reroll::0::",
    }[action]
    for button in parent.view.get("buttons") or []:
        custom_id = button.get("customId") if isinstance(button, dict) else None
        if isinstance(custom_id, str) and custom_id.startswith(wanted):
            return custom_id
    return None


def _change_of(owned: Owned, data: dict[str, Any], action: str, index: int | None) -> SubmitPlan:
    try:
        spec = action_of_change(action, index)
    except ActionError as exc:
        raise InvalidRequest(str(exc)) from None
    parent = _parent(owned, data)
    index = index if index is not None and 1 <= index <= 4 else 1
    button = _button_for(parent, spec.action, index)
    upstream_id = parent.upstream_id or ""  # never empty: _parent checked it
    if button is not None:
        body: dict[str, Any] = {"taskId": upstream_id, "customId": button}
        return SubmitPlan("change", spec, "/submit/action", body, parent.prompt, parent=parent, custom_id=button)
    body = {"taskId": upstream_id, "action": spec.action, "index": index}
    return SubmitPlan("change", spec, "/submit/change", body, parent.prompt, parent=parent)


def _change(owned: Owned, data: dict[str, Any]) -> SubmitPlan:
    raw_index = data.get("index")
    index = raw_index if isinstance(raw_index, int) and not isinstance(raw_index, bool) else None
    return _change_of(owned, data, _text(data, "action", required=True, limit=32), index)


def _simple_change(owned: Owned, data: dict[str, Any]) -> SubmitPlan:
    try:
        task_id, action, index = parse_simple_change(_text(data, "content", required=True, limit=200))
    except ActionError as exc:
        raise InvalidRequest(str(exc)) from None
    plan = _change_of(owned, {**data, "taskId": task_id}, action, index)
    plan.route = "simple_change"
    return plan


def _imagine(owned: Owned, data: dict[str, Any]) -> SubmitPlan:
    prompt = _text(data, "prompt", required=True).strip()
    _images(data, "base64Array", least=0, most=10)
    return SubmitPlan("imagine", ACTIONS["IMAGINE"], "/submit/imagine", {**data, "prompt": prompt}, prompt,
                      prompt_flags=True)  # fmt: skip


def _describe(owned: Owned, data: dict[str, Any]) -> SubmitPlan:
    if not _text(data, "base64") and not _text(data, "link", limit=4000):
        raise InvalidRequest("base64 or link is required")
    return SubmitPlan("describe", ACTIONS["DESCRIBE"], "/submit/describe", dict(data))


def _blend(owned: Owned, data: dict[str, Any]) -> SubmitPlan:
    _images(data, "base64Array", least=2, most=5)
    return SubmitPlan("blend", ACTIONS["BLEND"], "/submit/blend", dict(data))


def _shorten(owned: Owned, data: dict[str, Any]) -> SubmitPlan:
    prompt = _text(data, "prompt", required=True)
    return SubmitPlan("shorten", ACTIONS["SHORTEN"], "/submit/shorten", dict(data), prompt)


def _modal(owned: Owned, data: dict[str, Any]) -> SubmitPlan:
    task = _parent(owned, data, status=TaskStatus.MODAL)
    prompt = _text(data, "prompt") or task.prompt
    return SubmitPlan("modal", ACTIONS["MODAL"], "/submit/modal", _forward(data, task), prompt, modal_of=task,
                      creates_task=False)  # fmt: skip


def _upload(owned: Owned, data: dict[str, Any]) -> SubmitPlan:
    _images(data, "base64Array", least=1, most=10)
    return SubmitPlan("upload", ACTIONS["UPLOAD"], "/submit/upload-discord-images", dict(data), creates_task=False)


def _video(owned: Owned, data: dict[str, Any]) -> SubmitPlan:
    if str(data.get("action") or "").lower() == "extend":
        parent = _parent(owned, data)
        return SubmitPlan("video", ACTIONS["VIDEO"], "/submit/video", _forward(data, parent), parent.prompt,
                          parent=parent)  # fmt: skip
    prompt = _text(data, "prompt", required=True)
    return SubmitPlan("video", ACTIONS["VIDEO"], "/submit/video", dict(data), prompt)


def _edits(owned: Owned, data: dict[str, Any]) -> SubmitPlan:
    prompt = _text(data, "prompt", required=True)
    _text(data, "image", required=True)
    return SubmitPlan("edits", ACTIONS["EDITS"], "/submit/edits", dict(data), prompt)


def _swap(owned: Owned, data: dict[str, Any]) -> SubmitPlan:
    for name in ("source", "target"):
        if not _text(data, f"{name}Base64") and not _text(data, f"{name}Url", limit=4000):
            raise InvalidRequest(f"{name}Base64 (or {name}Url) is required")
    return SubmitPlan("swap_face", ACTIONS["SWAP_FACE"], "/insight-face/swap", dict(data), "InsightFace")


#: ``submit/<name>`` and ``insight-face/swap`` → how to prepare it.
SUBMIT_ROUTES: dict[str, Callable[[Owned, dict[str, Any]], SubmitPlan]] = {
    "submit/imagine": _imagine,
    "submit/change": _change,
    "submit/simple-change": _simple_change,
    "submit/describe": _describe,
    "submit/blend": _blend,
    "submit/shorten": _shorten,
    "submit/action": _action,
    "submit/modal": _modal,
    "submit/upload-discord-images": _upload,
    "submit/video": _video,
    "submit/edits": _edits,
    "submit/edit": _edits,
    "insight-face/swap": _swap,
}


def prepare(owned: Owned, path: str, data: dict[str, Any]) -> SubmitPlan:
    """The plan of a submit (blocking: reads parent tasks).

    Raises:
        InvalidRequest: the request cannot be submitted (its ``code`` says why).
        TaskNotFound: the parent task is not the caller's accepted task.
    """
    return SUBMIT_ROUTES[path](owned, data)
