"""Midjourney callbacks (``POST /mj/callback/{task id}?sig=…``), from the upstream a task was sent to.

The URL is a per-task capability: tollway gave it to the upstream with an HMAC of the task id, so a
callback is accepted only with the right signature for that very task (anything else: 403, nothing
read or changed). The body is news, not truth:

- it must be about this task (its ``id`` is the task's upstream id), else 409;
- non-final news is applied only if it moves the task forward (duplicates, late and replayed
  callbacks change nothing);
- final news (SUCCESS/FAILURE/CANCEL) is confirmed with the upstream itself (a fetch with the
  channel key) and what the upstream says is applied — so a replayed or forged FAILURE cannot
  trigger a refund the upstream does not agree with. A failure is refunded exactly once.

The follow-ups (refund, image copy, the client's own notifyHook) run before the answer.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from tollway.mj.model import Phase, StateUpdate, Task
from tollway.mj.news import state_of
from tollway.mj.runtime import MjRuntime, runtime_for
from tollway.mj.upstream import UpstreamDown
from tollway.services import Services
from tollway.settings import get_settings

__all__ = ["app", "configure", "handle_callback", "lambda_handler"]

logger = Logger(service="tollway-mj-callback")
app = APIGatewayRestResolver()

_override: Services | None = None


def configure(services: Services | None) -> None:
    """Use these services instead of building them from the environment (the local stack shares the
    relay's)."""
    global _override
    _override = services


@functools.cache
def _from_env() -> Services:
    return Services.on_aws(get_settings())


def runtime() -> MjRuntime:
    return runtime_for(_override if _override is not None else _from_env())


def _answer(status: int, code: int, description: str) -> Response[str]:
    body = json.dumps({"code": code, "description": description})
    return Response(status_code=status, content_type="application/json", body=body)


def _confirmed(rt: MjRuntime, task: Task, news: StateUpdate) -> StateUpdate | None:
    """The update to apply: non-final news as sent, final news only as the upstream confirms it."""
    if news.rank < task.rank or task.terminal:
        return None  # backwards, or the task has its final state already: nothing to confirm
    if news.status.value not in ("SUCCESS", "FAILURE", "CANCEL"):
        return news
    channel = rt.channel(task.channel_id)
    if channel is None or not task.upstream_id:
        return None
    try:
        raw = rt.upstream.fetch(channel, rt.svc.channel_secrets.get(channel.channel_id), task.upstream_id)
    except UpstreamDown as exc:
        logger.warning("could not confirm task %s with its upstream: %s", task.task_id, exc.reason)
        return None  # polling will see it
    return state_of(raw)


def handle_callback(rt: MjRuntime, task_id: str, signature: str, body: str | None) -> tuple[int, int, str]:
    """``(HTTP status, code, description)`` of one callback (blocking)."""
    if not task_id.isdigit() or not signature or not rt.keys.verify_callback(task_id, signature):
        return 403, 403, "bad signature"
    task = rt.tasks.get(task_id)
    if task is None:
        return 404, 404, "unknown task"
    try:
        raw = json.loads(body or "")
    except json.JSONDecodeError:
        return 400, 400, "the body is not JSON"
    news = state_of(raw)
    if news is None:
        return 400, 400, "the body is not a task"
    if task.phase is not Phase.ACCEPTED:
        return 202, 1, "the submit is not complete yet; polling will catch up"
    if str(raw.get("id", "")) != task.upstream_id:
        return 409, 409, "the body is about another task"
    now = rt.svc.clock_ms()
    update = _confirmed(rt, task, news)
    if update is None:
        rt.engine.followups(task, now)  # finish anything a crash left (refund, hook); changes no state
        return 200, 1, "ignored"
    rt.engine.observe(task, update, now)
    return 200, 1, "ok"


@app.post("/mj/callback/<rest>")
def callback(rest: str) -> Response[str]:
    event = app.current_event
    signature = (event.query_string_parameters or {}).get("sig", "")
    status, code, description = handle_callback(runtime(), rest.strip("/"), signature, event.body)
    if status >= 400:
        logger.info("callback refused", extra={"status": status, "reason": description})
    return _answer(status, code, description)


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
