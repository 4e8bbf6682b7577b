"""A Suno submit: the task engine's provider half (``tollway.tasks.submit`` runs the money rules).

What is Suno's own: the request rules (``tollway.suno.request``), the action's price, the channel a
continuation must stay on (its origin's), the upstream's answers (``code: success`` with a task id is an
acceptance) and new-api's wire shape ``{"code", "message", "data"}`` with real HTTP statuses.
"""

from __future__ import annotations

import logging
from typing import Any

from tollway.config.model import Channel, ChannelStatus
from tollway.errors import (
    ClientError,
    NoAvailableChannel,
    NotFound,
    PermissionDenied,
    TollwayError,
    UpstreamFailed,
    UpstreamRejected,
)
from tollway.mj.model import ImageMode, Mode, StateUpdate, Task, TaskStatus
from tollway.mj.ports import TaskStore
from tollway.mj.pricing import ActionPrice
from tollway.records import RecordStatus
from tollway.routing import order_channels
from tollway.services import Services
from tollway.suno.model import KIND, PRICE_KEYS, action_of, mint_task_id
from tollway.suno.pricing import price_of
from tollway.suno.render import success
from tollway.suno.request import SunoSubmit, parse_submit
from tollway.suno.upstream import SubmitAnswer, UpstreamDown
from tollway.tasks.submit import Admitted, Sent, pending_task, run_submit, task_record
from tollway.upstream.failures import scrub

from relay.suno.call import Answer, SunoCall, owned_task
from relay.suno.errors import suno_error

__all__ = ["submit"]

log = logging.getLogger("tollway.relay.suno")


class _Submit:
    """One Suno submit, as the task engine asks for it (``tollway.tasks.submit.TaskSubmit``)."""

    crash_http_status = 500

    def __init__(self, call: SunoCall, action_text: str, data: Any) -> None:
        self.call = call
        self.srt = call.srt
        self.svc: Services = call.srt.svc
        self.tasks: TaskStore = call.srt.tasks
        self.action_text = action_text
        self.action = action_of(action_text)
        self.data = data
        self.request: SunoSubmit | None = None
        self.origin: Task | None = None
        self.price: ActionPrice | None = None
        self.attempts = 0
        self.answer: SubmitAnswer | None = None
        self.secret = ""

    @property
    def endpoint(self) -> str:
        return f"suno.{self.action.value.lower()}" if self.action is not None else "suno.submit"

    @property
    def model(self) -> str | None:
        return None if self.price is None else self.price.key

    def units(self) -> dict[str, Any]:
        return {} if self.action is None else {"action": self.action.value}

    def charged_task_id(self, task: Task | None) -> str | None:
        return None if task is None else task.task_id

    # ---- before any money moves ------------------------------------------------------------------

    def refuse(self, cause: TollwayError) -> Answer:
        """Write the refused request's one usage record; the error to answer."""
        status, body = suno_error(cause)
        self.svc.biller.record_refusal(task_record(self, RecordStatus.REFUSED, status, error_code=cause.code))
        return Answer(status, body)

    def admit(self) -> Admitted:
        request = self.request = parse_submit(self.action_text, self.data)
        catalog = self.svc.catalog.get()
        context = self.call.context
        key_name = PRICE_KEYS[request.action]
        price = price_of(request.action, catalog, catalog.group_ratio(context.group))
        if price is None:
            raise NotFound(f"{key_name} is not available on this relay (no price)", code="model_not_found")
        self.price = price
        if not context.key.allows_model(key_name):
            raise PermissionDenied(f"This API key may not use {key_name}.", code="model_not_allowed")
        if request.origin_task_id is not None:
            origin = self.origin = owned_task(self.call, request.origin_task_id)
            if origin is None or not origin.upstream_id:
                raise ClientError("task_origin_not_exist", code="task_not_exist")  # new-api: 400, not 404
            # A continuation stays on its origin's channel: only that upstream knows its clips.
            channel = next((c for c in catalog.channels if c.channel_id == origin.channel_id), None)
            if channel is None or channel.status is not ChannelStatus.ENABLED:
                raise ClientError(f"the channel of task {origin.task_id} is unavailable", code="task_channel_disable")
            return Admitted([channel], price)
        candidates = [c for c in catalog.channels_for(key_name, context.group) if c.type == KIND]
        if not candidates:
            raise NoAvailableChannel(f"no channel serves {key_name} for group {context.group}")
        return Admitted(order_channels(candidates), price)

    # ---- the task and the upstream ---------------------------------------------------------------

    def _admitted(self) -> tuple[SunoSubmit, ActionPrice]:
        if self.request is None or self.price is None:
            raise RuntimeError("the task engine calls admit() first")
        return self.request, self.price

    def draft_task(self, channel: Channel, key_limited: bool) -> Task:
        request, price = self._admitted()
        return pending_task(
            self,
            task_id=mint_task_id(),
            channel=channel,
            key_limited=key_limited,
            price=price,
            action=request.action.value,
            parent=self.origin,
            mode=Mode.FAST,  # a Midjourney notion; unused for Suno tasks
            image_mode=ImageMode.ORIGIN,  # no image copies: the clips' URLs are passed as given
            prompt=request.prompt,
            kind=KIND,
        )

    def send(self, channels: list[Channel], task: Task | None) -> Sent:
        """Submit upstream; the answer (None: none reachable) and the channel's key stay for rejected()."""
        request, _ = self._admitted()
        origin = self.origin
        body = dict(request.body)
        if origin is not None:
            body["task_id"] = origin.upstream_id  # the upstream knows its own id, never tollway's
        answer: SubmitAnswer | None = None
        channel, secret = channels[0], ""
        for channel in channels[: self.svc.settings.max_channel_attempts]:
            self.attempts += 1
            secret = self.svc.channel_secrets.get(channel.channel_id) or ""
            try:
                answer = self.srt.upstream.submit(channel, secret or None, request.action, body)
            except UpstreamDown as exc:
                log.warning("suno channel %s failed for %s: %s", channel.channel_id, self.call.request_id, exc.reason)
                answer = None
                continue
            if answer.accepted or not answer.retryable or origin is not None:
                break
            log.warning("suno channel %s answered HTTP %d for %s", channel.channel_id, answer.status,
                        self.call.request_id)  # fmt: skip
        self.answer, self.secret = answer, secret
        return Sent(answer is not None and answer.accepted, channel)

    def rejected(self) -> tuple[Answer, int, str]:
        refused, error_code = _refused(self.answer, self.secret)
        return refused, refused.status, error_code

    def accepted(self, task: Task | None, channel: Channel, charge: int) -> Answer:
        answer = self.answer
        if task is None or answer is None:
            raise RuntimeError("accepted() follows an accepting send() of a drafted task")
        first = StateUpdate(TaskStatus.NOT_START, "0%", {"status": TaskStatus.NOT_START.value})
        self.tasks.accept(
            task.task_id,
            upstream_id=str(answer.data),
            channel_id=channel.channel_id,
            charge=charge,
            update=first,
            now=self.svc.clock_ms(),
        )
        return Answer(200, success(task.task_id))


def _refused(answer: SubmitAnswer | None, secret: str) -> tuple[Answer, str]:
    """The client's answer to a submit the upstream did not accept, and the usage record's error code."""
    failure, record_code = _failure(answer, secret)
    status, body = suno_error(failure)
    return Answer(status, body), record_code


def _failure(answer: SubmitAnswer | None, secret: str) -> tuple[TollwayError, str]:
    """What the upstream's refusal is in the error tree, and the usage record's error code."""
    if answer is None:
        down = UpstreamFailed("The Suno upstream is unavailable; nothing was charged.", code="do_request_failed")
        return down, "upstream_unavailable"
    message = answer.message.replace(secret, "[redacted]") if secret else answer.message
    message = scrub(message) or f"the upstream refused the submit (HTTP {answer.status})"
    if answer.status != 200:
        # new-api's code for any non-200 upstream answer. The client's own request may be at fault (4xx);
        # the channel's key or the upstream itself may not (401/403/5xx): those are a gateway error.
        client_fault = 400 <= answer.status < 500 and answer.status not in (401, 403, 407)
        text = f"{answer.code}: {message}" if answer.code else message
        failure: TollwayError
        if client_fault:
            failure = UpstreamRejected(
                text, status_code=answer.status, error_type="invalid_request_error", code="fail_to_fetch_task",
                param=None,
            )  # fmt: skip
        else:
            failure = UpstreamFailed(text, code="fail_to_fetch_task")
        return failure, f"suno_http_{answer.status}"
    code = scrub(answer.code, 64)
    if code in ("", "success"):  # no envelope, or "success" without a task id: never shown as a success
        code, message = "upstream_error", "the upstream answered without a task id"
    return UpstreamFailed(message, code=code), f"suno_{code}"


def submit(call: SunoCall, action_text: str, data: Any) -> Answer:
    """Run a submit to the end (blocking). Auth errors and other real HTTP errors are raised."""
    return run_submit(_Submit(call, action_text, data))
