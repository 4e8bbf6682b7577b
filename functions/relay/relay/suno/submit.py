"""A Suno submit: validate → price → reserve → task → upstream → charge or release.

Runs as one blocking function in a worker thread, so a client that goes away mid-submit cannot stop it
half-way: the hold is always settled. Money rules, in order:

1. refusals before the reserve (bad body, unknown action, LYRICS without prompt, unknown or foreign
   origin task, unpriced, no channel, insufficient balance) write the request's one usage record and
   answer ``{"code", "message", "data": null}``; nothing reaches the upstream;
2. reserve exactly the action's price (group ratio applied) — one atomic write;
3. record the task as pending (a process dying past this point is resolved by the sweep);
4. the upstream accepts (``code: success``): settle at the full price, the usage record carrying the
   task id, then mark the task accepted. It refuses, or cannot be reached: settle at 0 at once.

The refund of a task that fails or times out later is the shared engine's (``tollway.mj.engine``).
"""

from __future__ import annotations

import logging
from typing import Any

from tollway.billing import Reservation
from tollway.config.model import Channel, ChannelStatus
from tollway.errors import AuthenticationFailed, InsufficientQuota, TollwayError
from tollway.mj.model import ImageMode, Mode, StateUpdate, Task, TaskStatus
from tollway.mj.ports import TaskExists
from tollway.mj.pricing import ActionPrice
from tollway.records import RecordStatus, UsageRecord
from tollway.routing import order_channels
from tollway.suno.model import KIND, PRICE_KEYS, SunoAction, action_of, mint_task_id
from tollway.suno.pricing import price_of
from tollway.suno.render import error, success
from tollway.suno.request import Refusal, SunoSubmit, parse_submit
from tollway.suno.upstream import SubmitAnswer, UpstreamDown
from tollway.upstream.failures import scrub

from relay.calls import reserve_fresh
from relay.suno.call import Answer, SunoCall, owned_task

__all__ = ["submit"]

log = logging.getLogger("tollway.relay.suno")


class _Submit:
    def __init__(self, call: SunoCall, action_text: str, data: Any) -> None:
        self.call = call
        self.srt = call.srt
        self.svc = call.srt.svc
        self.action_text = action_text
        self.action = action_of(action_text)
        self.data = data
        self.price: ActionPrice | None = None
        self.attempts = 0

    def record(
        self,
        status: RecordStatus,
        http_status: int,
        *,
        channel: Channel | None = None,
        task_id: str | None = None,
        error_code: str | None = None,
    ) -> UsageRecord:
        units: dict[str, Any] = {"calls": 1}
        if self.action is not None:
            units["action"] = self.action.value
        context = self.call.context
        return UsageRecord(
            request_id=self.call.request_id,
            created_at=self.call.created_at,
            account_id=context.account.account_id,
            key_id=context.key.key_id,
            endpoint=f"suno.{self.action.value.lower()}" if self.action is not None else "suno.submit",
            status=status,
            http_status=http_status,
            model=None if self.price is None else self.price.key,
            channel_id=None if channel is None else channel.channel_id,
            error_code=error_code,
            units=units,
            group=context.group,
            latency_ms=self.call.elapsed_ms(),
            attempts=self.attempts,
            task_id=task_id,
        )

    # ---- before any money moves ------------------------------------------------------------------

    def refuse(self, refusal: Refusal) -> Answer:
        """Write the refused request's one usage record; the error to answer."""
        record = self.record(RecordStatus.REFUSED, refusal.http_status, error_code=refusal.error_code)
        self.svc.biller.record_refusal(record)
        return Answer(refusal.http_status, error(refusal.code, refusal.message))

    def admit(self) -> tuple[SunoSubmit, list[Channel], ActionPrice, Task | None]:
        request = parse_submit(self.action_text, self.data)
        catalog = self.svc.catalog.get()
        context = self.call.context
        key_name = PRICE_KEYS[request.action]
        price = price_of(request.action, catalog, catalog.group_ratio(context.group))
        if price is None:
            raise Refusal("model_not_found", f"{key_name} is not available on this relay (no price)", 404)
        self.price = price
        if not context.key.allows_model(key_name):
            raise Refusal("model_not_allowed", f"This API key may not use {key_name}.", 403)
        origin: Task | None = None
        if request.origin_task_id is not None:
            origin = owned_task(self.call, request.origin_task_id)
            if origin is None or not origin.upstream_id:
                raise Refusal("task_not_exist", "task_origin_not_exist", 400)
            # A continuation stays on its origin's channel: only that upstream knows its clips.
            channel = next((c for c in catalog.channels if c.channel_id == origin.channel_id), None)
            if channel is None or channel.status is not ChannelStatus.ENABLED:
                raise Refusal("task_channel_disable", f"the channel of task {origin.task_id} is unavailable", 400)
            return request, [channel], price, origin
        candidates = [c for c in catalog.channels_for(key_name, context.group) if c.type == KIND]
        if not candidates:
            raise Refusal("no_available_channel", f"no channel serves {key_name} for group {context.group}", 503)
        return request, order_channels(candidates), price, None

    def reserve(self, price: ActionPrice) -> Reservation:
        reservation, self.call.context = reserve_fresh(
            self.svc,
            self.call.context,
            hold_id=self.call.request_id,
            budget=price.budget,
            output_limit=None,
            min_output=0,
            now_ms=self.call.created_at,
            endpoint=f"suno.{self.action.value.lower() if self.action else 'submit'}",
            model=price.key,
        )
        return reservation

    # ---- the upstream ----------------------------------------------------------------------------

    def send(
        self, request: SunoSubmit, channels: list[Channel], origin: Task | None
    ) -> tuple[SubmitAnswer | None, Channel, str]:
        """The upstream's answer (None: none reachable), the channel that gave it, and its key."""
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
                return answer, channel, secret
            log.warning("suno channel %s answered HTTP %d for %s", channel.channel_id, answer.status,
                        self.call.request_id)  # fmt: skip
        return answer, channel, secret


def _refused(answer: SubmitAnswer | None, secret: str) -> tuple[Answer, str]:
    """The client's answer to a submit the upstream did not accept, and the usage record's error code."""
    if answer is None:
        return Answer(502, error("do_request_failed", "The Suno upstream is unavailable; nothing was charged.")), (
            "upstream_unavailable"
        )
    message = answer.message.replace(secret, "[redacted]") if secret else answer.message
    message = scrub(message) or f"the upstream refused the submit (HTTP {answer.status})"
    if answer.status != 200:
        # new-api's code for any non-200 upstream answer. The client's own request may be at fault (4xx);
        # the channel's key or the upstream itself may not (401/403/5xx): those are a gateway error.
        client_fault = 400 <= answer.status < 500 and answer.status not in (401, 403, 407)
        text = f"{answer.code}: {message}" if answer.code else message
        return Answer(answer.status if client_fault else 502, error("fail_to_fetch_task", text)), (
            f"suno_http_{answer.status}"
        )
    code = scrub(answer.code, 64)
    if code in ("", "success"):  # no envelope, or "success" without a task id: never shown as a success
        code, message = "upstream_error", "the upstream answered without a task id"
    return Answer(502, error(code, message)), f"suno_{code}"


def submit(call: SunoCall, action_text: str, data: Any) -> Answer:
    """Run a submit to the end (blocking). Auth errors and other real HTTP errors are raised."""
    job = _Submit(call, action_text, data)
    try:
        request, channels, price, origin = job.admit()
    except Refusal as refusal:
        return job.refuse(refusal)
    try:
        reservation = job.reserve(price)
    except InsufficientQuota as exc:
        return job.refuse(Refusal("quota_not_enough", exc.message, 403, error_code="insufficient_quota"))
    except TollwayError as exc:
        # Not a business error (a disabled key or account, a rate guard): a real HTTP status, recorded.
        if not isinstance(exc, AuthenticationFailed):
            job.refuse(Refusal(exc.code, exc.message, exc.status))
        raise
    return _submit_reserved(job, request, channels, price, origin, reservation)


def _submit_reserved(
    job: _Submit,
    request: SunoSubmit,
    channels: list[Channel],
    price: ActionPrice,
    origin: Task | None,
    reservation: Reservation,
) -> Answer:
    svc, tasks = job.svc, job.srt.tasks
    hold = reservation.hold
    task: Task | None = None
    settled = False
    try:
        task = _create_task(job, request, channels[0], price, origin, hold.key_limited)
        answer, channel, secret = job.send(request, channels, origin)
        if answer is None or not answer.accepted:
            refused, error_code = _refused(answer, secret)
            record = job.record(RecordStatus.ERROR, refused.status, channel=channel, error_code=error_code)
            movement = svc.biller.settle(hold, 0, record, now_ms=svc.clock_ms())
            settled = True
            if movement is not None:
                svc.biller.finish(movement)
            tasks.discard(task.task_id)
            return refused
        record = job.record(RecordStatus.OK, 200, channel=channel, task_id=task.task_id)
        movement = svc.biller.settle(hold, price.micros, record, now_ms=svc.clock_ms())
        settled = True
        if movement is not None:
            svc.biller.finish(movement)  # before the task counts as charged: a refund must land after it
        charge = svc.biller.charged(hold, movement)
        first = StateUpdate(TaskStatus.NOT_START, "0%", {"status": TaskStatus.NOT_START.value})
        tasks.accept(
            task.task_id,
            upstream_id=str(answer.data),
            channel_id=channel.channel_id,
            charge=charge,
            update=first,
            now=svc.clock_ms(),
        )
        return Answer(200, success(task.task_id))
    except BaseException:
        if not settled:
            record = job.record(RecordStatus.ERROR, 500, error_code="internal_error")
            movement = svc.biller.settle(hold, 0, record, now_ms=svc.clock_ms())
            if movement is not None:
                svc.biller.finish(movement)
            if task is not None:
                tasks.discard(task.task_id)
        raise


def _create_task(
    job: _Submit, request: SunoSubmit, channel: Channel, price: ActionPrice, origin: Task | None, limited: bool
) -> Task:
    call = job.call
    context = call.context
    action: SunoAction = request.action
    for _ in range(8):
        task = Task(
            task_id=mint_task_id(),
            account_id=context.account.account_id,
            key_id=context.key.key_id,
            key_hash=context.key.key_hash,
            key_limited=limited,
            hold_id=call.request_id,
            channel_id=channel.channel_id,
            action=action.value,
            price_key=price.key,
            mode=Mode.FAST,  # a Midjourney notion; unused for Suno tasks
            image_mode=ImageMode.ORIGIN,  # no image copies: the clips' URLs are passed as given
            price=price.micros,
            created_at=call.created_at,
            prompt=request.prompt,
            parent_id=None if origin is None else origin.task_id,
            parent_upstream_id=None if origin is None else origin.upstream_id,
            updated_at=call.created_at,
            kind=KIND,
        )
        try:
            job.srt.tasks.create(task)
            return task
        except TaskExists:
            continue  # 128 random bits: practically never
    raise TollwayError("Could not allocate a task id; nothing was charged.")
