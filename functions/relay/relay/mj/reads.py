"""The free Midjourney routes: fetch, list-by-condition, image-seed, images, the webhook secret.

All are answered from tollway's own tasks, scoped to the caller (another account's task id is simply
not found). A task not finished and not heard of for ``refresh_after_s`` is refreshed from the
upstream first (list-by-condition in one call per channel), under the same forward-only rule as
callbacks; its follow-ups (refund, image copy, notifyHook) run after the answer is sent.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from tollway.auth import KeyContext
from tollway.errors import (
    InvalidRequest,
    NoAvailableChannel,
    NotFound,
    PermissionDenied,
    TaskNotFound,
    UpstreamFailed,
)
from tollway.mj.images import ImageUnavailable
from tollway.mj.model import ImageMode, Phase, StateUpdate, Task
from tollway.mj.modes import resolve_image_mode
from tollway.mj.news import state_of
from tollway.mj.notify import EVENT_HEADER
from tollway.mj.render import envelope, render_task
from tollway.mj.runtime import MjRuntime
from tollway.mj.signing import SIGNATURE_HEADER
from tollway.mj.upstream import UpstreamDown
from tollway.tasks.reads import parse_ids
from tollway.tasks.reads import refresh as refresh_tasks
from tollway.upstream.failures import scrub

from relay.mj.auth import MjCall, owned_task
from relay.mj.errors import mj_error

__all__ = ["MAX_LIST_IDS", "Read", "fetch", "image", "image_seed", "list_tasks", "notify_secret", "refresh"]

MAX_LIST_IDS = 200

#: (HTTP status, JSON body, what to run after the answer is sent)
Read = tuple[int, Any, Callable[[], None] | None]


def _image_mode(call: MjCall) -> ImageMode:
    return resolve_image_mode(
        path=call.path.image_mode,
        key_default=call.context.key.settings.get("mj_image_mode"),
        operator_default=call.rt.options().default_image_mode,
    )


def read_states(rt: MjRuntime, channel_id: str, tasks: list[Task]) -> dict[str, StateUpdate] | None:
    """One channel's news of ``tasks`` by task id (``tollway.tasks.reads.ReadStates``); None: unreadable now."""
    channel = rt.channel(channel_id)
    if channel is None:
        return None
    secret = rt.svc.channel_secrets.get(channel_id)
    try:
        if len(tasks) == 1:
            raw = rt.upstream.fetch(channel, secret, tasks[0].upstream_id or "")
            items = [raw] if raw is not None else []
        else:
            items = rt.upstream.list_tasks(channel, secret, [t.upstream_id or "" for t in tasks])
    except UpstreamDown:
        return None
    by_id = {str(item.get("id")): item for item in items}
    news = {t.task_id: state_of(by_id.get(t.upstream_id or "")) for t in tasks}
    return {task_id: update for task_id, update in news.items() if update is not None}


def refresh(rt: MjRuntime, tasks: list[Task], now: int) -> tuple[list[Task], list[Task]]:
    """Refresh stale unfinished tasks from their upstreams (``tollway.tasks.reads.refresh``)."""
    return refresh_tasks(rt, functools.partial(read_states, rt), tasks, now)


def fetch(call: MjCall, task_id: str) -> Read:
    task = owned_task(call, task_id)
    if task is None:
        return (*mj_error(TaskNotFound(f"task {task_id} not found"), business=False), None)
    rt = call.rt
    now = rt.svc.clock_ms()
    (fresh,), moved = refresh(rt, [task], now)
    return 200, render_task(fresh, _image_mode(call), rt.links(call.base, now)), rt.engine.later(moved)


def _ids(data: Any) -> list[str] | None:
    """``{"ids": [...]}`` with ids as strings or JSON numbers (some clients send numbers)."""
    return parse_ids(data.get("ids") if isinstance(data, dict) else None)


def list_tasks(call: MjCall, data: Any) -> Read:
    ids = _ids(data)
    if ids is None:
        return (*mj_error(InvalidRequest('the body must be {"ids": [task ids]}'), business=False), None)
    if len(ids) > MAX_LIST_IDS:
        return (*mj_error(InvalidRequest(f"at most {MAX_LIST_IDS} ids per request"), business=False), None)
    rt = call.rt
    account_id = call.context.account.account_id
    found = [
        t
        for t in rt.tasks.get_many([i for i in ids if i.isdigit()])
        if t.account_id == account_id and t.phase is Phase.ACCEPTED and t.kind == "mj"
    ]
    now = rt.svc.clock_ms()
    fresh, moved = refresh(rt, found, now)
    mode, links = _image_mode(call), rt.links(call.base, now)
    return 200, [render_task(t, mode, links) for t in fresh], rt.engine.later(moved)


def image_seed(call: MjCall, task_id: str) -> Read:
    task = owned_task(call, task_id)
    if task is None or not task.upstream_id:
        return (*mj_error(TaskNotFound(f"task {task_id} not found"), business=True), None)
    rt = call.rt
    channel = rt.channel(task.channel_id)
    if channel is None:
        return (*mj_error(NoAvailableChannel(f"the channel of task {task_id} is unavailable"), business=True), None)
    try:
        answer = rt.upstream.image_seed(channel, rt.svc.channel_secrets.get(channel.channel_id), task.upstream_id)
    except UpstreamDown:
        return (*mj_error(UpstreamFailed("The Midjourney upstream is unavailable."), business=True), None)
    result = answer.result if isinstance(answer.result, (str, int)) else None
    return 200, envelope(answer.code, scrub(answer.description), None if result is None else str(result)), None


def notify_secret(call: MjCall) -> Read:
    secret = call.rt.keys.hook_secret(call.context.account.account_id)
    body = {
        "secret": secret,
        "header": SIGNATURE_HEADER,
        "format": "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.' + raw body)>",
        "event_header": EVENT_HEADER,
        "tolerance_s": 300,
    }
    return 200, body, None


def image(rt: MjRuntime, task_id: str, query: dict[str, str], context: KeyContext | None) -> tuple[bytes, str]:
    """An image by signed link (``exp`` + ``sig``) or by its owner's key (blocking).

    Raises:
        PermissionDenied: no valid signature and not the owner.
        NotFound: no such task, or no image to serve.
    """
    task = rt.tasks.get(task_id) if task_id.isdigit() else None
    expires = query.get("exp", "")
    signature = query.get("sig", "")
    signed = (
        expires.isdigit() and int(expires) >= time.time() and rt.keys.verify_image(task_id, int(expires), signature)
    )
    owner = context is not None and task is not None and task.account_id == context.account.account_id
    if not (signed or owner):
        raise PermissionDenied("This image link is invalid or has expired; fetch the task for a fresh one.")
    if task is None or task.phase is not Phase.ACCEPTED or task.kind != "mj":
        raise NotFound(f"No image for task {task_id}.", code="image_not_found")
    try:
        return rt.engine.images.serve(task)
    except ImageUnavailable as exc:
        raise NotFound(f"No image for task {task_id}: {exc}", code="image_not_found") from None
