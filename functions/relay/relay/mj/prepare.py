"""Submit routes: validate the body, find the action, the parent task and the upstream call.

Every problem here is a business error: :class:`Refusal` becomes the MJ envelope (HTTP 200) with
code 4 (invalid request) or 3 (a task that does not exist — also another account's task: the two
cannot be told apart).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tollway.mj.actions import (
    ACTIONS,
    ActionError,
    ActionSpec,
    action_of_change,
    action_of_custom_id,
    parse_simple_change,
)
from tollway.mj.model import Phase, Task, TaskStatus

from relay.mj.auth import MjCall

__all__ = ["SUBMIT_ROUTES", "Refusal", "SubmitPlan", "owned_task", "prepare"]


class Refusal(Exception):
    """A submit refused before anything was reserved or sent."""

    def __init__(self, code: int, description: str, error_code: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.error_code = error_code


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
            raise Refusal(4, f"{name} is required", "invalid_body")
        return ""
    if not isinstance(value, str):
        raise Refusal(4, f"{name} must be a string", "invalid_body")
    if required and not value.strip():
        raise Refusal(4, f"{name} is required", "invalid_body")
    if len(value) > limit:
        raise Refusal(4, f"{name} is too long", "invalid_body")
    return value


def _images(data: dict[str, Any], name: str, *, least: int, most: int) -> list[str]:
    value = data.get(name)
    if value is None and least == 0:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise Refusal(4, f"{name} must be a list of image data URLs", "invalid_body")
    if not least <= len(value) <= most:
        raise Refusal(4, f"{name} must hold {least} to {most} images", "invalid_body")
    return value


def _task_id(data: dict[str, Any]) -> str:
    value = data.get("taskId")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise Refusal(4, "taskId is required", "invalid_body")
    return str(value).strip()


def owned_task(call: MjCall, task_id: str) -> Task | None:
    """The caller's own accepted task, or None (unknown and another account's look the same)."""
    task = call.rt.tasks.get(task_id) if task_id.isdigit() else None
    if task is None or task.account_id != call.context.account.account_id or task.phase is not Phase.ACCEPTED:
        return None
    return task if task.kind == "mj" else None  # a Suno task in the same table is not an MJ task


def _parent(call: MjCall, data: dict[str, Any], *, status: TaskStatus = TaskStatus.SUCCESS) -> Task:
    task_id = _task_id(data)
    parent = owned_task(call, task_id)
    if parent is None or not parent.upstream_id:
        raise Refusal(3, f"task {task_id} not found", "task_not_found")
    if parent.status is not status:
        raise Refusal(4, f"task {task_id} is {parent.status.value}, not {status.value}", "task_status")
    return parent


def _forward(data: dict[str, Any], parent: Task | None = None) -> dict[str, Any]:
    body = dict(data)
    if parent is not None:
        body["taskId"] = parent.upstream_id
    return body


def _action(call: MjCall, data: dict[str, Any]) -> SubmitPlan:
    custom_id = _text(data, "customId", required=True, limit=512)
    try:
        spec = action_of_custom_id(custom_id)
    except ActionError as exc:
        raise Refusal(4, str(exc), "unknown_action") from None
    parent = _parent(call, data)
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


def _change_of(call: MjCall, data: dict[str, Any], action: str, index: int | None) -> SubmitPlan:
    try:
        spec = action_of_change(action, index)
    except ActionError as exc:
        raise Refusal(4, str(exc), "invalid_body") from None
    parent = _parent(call, data)
    index = index if index is not None and 1 <= index <= 4 else 1
    button = _button_for(parent, spec.action, index)
    upstream_id = parent.upstream_id or ""  # never empty: _parent checked it
    if button is not None:
        body: dict[str, Any] = {"taskId": upstream_id, "customId": button}
        return SubmitPlan("change", spec, "/submit/action", body, parent.prompt, parent=parent, custom_id=button)
    body = {"taskId": upstream_id, "action": spec.action, "index": index}
    return SubmitPlan("change", spec, "/submit/change", body, parent.prompt, parent=parent)


def _change(call: MjCall, data: dict[str, Any]) -> SubmitPlan:
    raw_index = data.get("index")
    index = raw_index if isinstance(raw_index, int) and not isinstance(raw_index, bool) else None
    return _change_of(call, data, _text(data, "action", required=True, limit=32), index)


def _simple_change(call: MjCall, data: dict[str, Any]) -> SubmitPlan:
    try:
        task_id, action, index = parse_simple_change(_text(data, "content", required=True, limit=200))
    except ActionError as exc:
        raise Refusal(4, str(exc), "invalid_body") from None
    plan = _change_of(call, {**data, "taskId": task_id}, action, index)
    plan.route = "simple_change"
    return plan


def _imagine(call: MjCall, data: dict[str, Any]) -> SubmitPlan:
    prompt = _text(data, "prompt", required=True).strip()
    _images(data, "base64Array", least=0, most=10)
    return SubmitPlan("imagine", ACTIONS["IMAGINE"], "/submit/imagine", {**data, "prompt": prompt}, prompt,
                      prompt_flags=True)  # fmt: skip


def _describe(call: MjCall, data: dict[str, Any]) -> SubmitPlan:
    if not _text(data, "base64") and not _text(data, "link", limit=4000):
        raise Refusal(4, "base64 or link is required", "invalid_body")
    return SubmitPlan("describe", ACTIONS["DESCRIBE"], "/submit/describe", dict(data))


def _blend(call: MjCall, data: dict[str, Any]) -> SubmitPlan:
    _images(data, "base64Array", least=2, most=5)
    return SubmitPlan("blend", ACTIONS["BLEND"], "/submit/blend", dict(data))


def _shorten(call: MjCall, data: dict[str, Any]) -> SubmitPlan:
    prompt = _text(data, "prompt", required=True)
    return SubmitPlan("shorten", ACTIONS["SHORTEN"], "/submit/shorten", dict(data), prompt)


def _modal(call: MjCall, data: dict[str, Any]) -> SubmitPlan:
    task = _parent(call, data, status=TaskStatus.MODAL)
    prompt = _text(data, "prompt") or task.prompt
    return SubmitPlan("modal", ACTIONS["MODAL"], "/submit/modal", _forward(data, task), prompt, modal_of=task,
                      creates_task=False)  # fmt: skip


def _upload(call: MjCall, data: dict[str, Any]) -> SubmitPlan:
    _images(data, "base64Array", least=1, most=10)
    return SubmitPlan("upload", ACTIONS["UPLOAD"], "/submit/upload-discord-images", dict(data), creates_task=False)


def _video(call: MjCall, data: dict[str, Any]) -> SubmitPlan:
    if str(data.get("action") or "").lower() == "extend":
        parent = _parent(call, data)
        return SubmitPlan("video", ACTIONS["VIDEO"], "/submit/video", _forward(data, parent), parent.prompt,
                          parent=parent)  # fmt: skip
    prompt = _text(data, "prompt", required=True)
    return SubmitPlan("video", ACTIONS["VIDEO"], "/submit/video", dict(data), prompt)


def _edits(call: MjCall, data: dict[str, Any]) -> SubmitPlan:
    prompt = _text(data, "prompt", required=True)
    _text(data, "image", required=True)
    return SubmitPlan("edits", ACTIONS["EDITS"], "/submit/edits", dict(data), prompt)


def _swap(call: MjCall, data: dict[str, Any]) -> SubmitPlan:
    for name in ("source", "target"):
        if not _text(data, f"{name}Base64") and not _text(data, f"{name}Url", limit=4000):
            raise Refusal(4, f"{name}Base64 (or {name}Url) is required", "invalid_body")
    return SubmitPlan("swap_face", ACTIONS["SWAP_FACE"], "/insight-face/swap", dict(data), "InsightFace")


#: ``submit/<name>`` and ``insight-face/swap`` → how to prepare it.
SUBMIT_ROUTES: dict[str, Callable[[MjCall, dict[str, Any]], SubmitPlan]] = {
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


def prepare(call: MjCall, path: str, data: dict[str, Any]) -> SubmitPlan:
    """The plan of a submit (blocking: reads parent tasks).

    Raises:
        Refusal: the request cannot be submitted.
    """
    return SUBMIT_ROUTES[path](call, data)
