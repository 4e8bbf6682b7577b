"""A Midjourney submit: price → reserve → task → upstream → charge or release.

Runs as one blocking function in a worker thread, so a client that goes away mid-submit cannot stop
it half-way: the hold is always settled. Money rules, in order:

1. refusals before the reserve (bad body, unknown or foreign parent, mode not allowed, unpriced,
   no channel, insufficient balance) write the request's one usage record and answer an envelope;
2. reserve exactly the action's price (group ratio applied) — one atomic write;
3. record the task as pending (its id is in the callback URL the upstream gets);
4. the upstream accepts (1/21/22): settle at the full price, the usage record carrying the task id;
   then mark the task accepted. It refuses (any other code) or cannot be reached: settle at 0 at once.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tollway.billing import Reservation
from tollway.config.catalog import Catalog
from tollway.config.model import Channel, ChannelStatus
from tollway.errors import AuthenticationFailed, InsufficientQuota, TollwayError
from tollway.mj.model import Mode, StateUpdate, Task, TaskStatus
from tollway.mj.modes import ModeError, apply_mode_flag, resolve_image_mode, resolve_mode
from tollway.mj.ports import TaskExists
from tollway.mj.pricing import ActionPrice, price_of
from tollway.mj.render import envelope
from tollway.mj.upstream import SubmitAnswer, UpstreamDown
from tollway.records import RecordStatus, UsageRecord
from tollway.routing import order_channels
from tollway.ssrf import Blocked
from tollway.upstream.failures import scrub

from relay.calls import reserve_fresh
from relay.mj.auth import MjCall
from relay.mj.prepare import Refusal, SubmitPlan, prepare

__all__ = ["Outcome", "submit"]

log = logging.getLogger("tollway.relay.mj")

#: Codes after which a new submit may try the next channel (no usable account, system failure, queue full).
_NEXT_CHANNEL = frozenset({3, 9, 23})


@dataclass
class Outcome:
    """The answer, and what to run after it was sent (notifyHook delivery of the accepted state)."""

    body: dict[str, Any]
    after: Callable[[], None] | None = None


def _record(
    call: MjCall,
    plan: SubmitPlan | None,
    route: str,
    status: RecordStatus,
    *,
    model: str | None = None,
    channel: Channel | None = None,
    task_id: str | None = None,
    error_code: str | None = None,
    mode: Mode | None = None,
    attempts: int = 0,
) -> UsageRecord:
    units: dict[str, Any] = {"calls": 1}
    if plan is not None:
        units["action"] = plan.spec.action
    if mode is not None:
        units["mode"] = mode.value
    return UsageRecord(
        request_id=call.request_id,
        created_at=call.created_at,
        account_id=call.context.account.account_id,
        key_id=call.context.key.key_id,
        endpoint=f"mj.{plan.route if plan is not None else route}",
        status=status,
        http_status=200,
        model=model,
        channel_id=None if channel is None else channel.channel_id,
        error_code=error_code,
        units=units,
        group=call.context.group,
        latency_ms=call.elapsed_ms(),
        attempts=attempts,
        task_id=task_id,
    )


def _mint_id(now_ms: int) -> str:
    """A task id in the upstreams' own format: ``<unix ms><3 random digits>`` (16 digits)."""
    return f"{now_ms}{secrets.randbelow(1000):03d}"


class _Submit:
    def __init__(self, call: MjCall, path: str, data: dict[str, Any]) -> None:
        self.call = call
        self.rt = call.rt
        self.svc = call.rt.svc
        self.path = path
        self.data = data
        self.plan: SubmitPlan | None = None
        self.mode: Mode | None = None
        self.price: ActionPrice | None = None
        self.attempts = 0

    # ---- before any money moves ------------------------------------------------------------------

    def refuse(self, code: int, description: str, error_code: str, *, http_status: int = 200) -> Outcome:
        """Write the refused request's one usage record; the envelope to answer."""
        record = _record(
            self.call,
            self.plan,
            self.path.rsplit("/", 1)[-1].replace("-", "_"),
            RecordStatus.REFUSED,
            model=None if self.price is None else self.price.key,
            error_code=error_code,
            mode=self.mode,
        ).replace(http_status=http_status)
        self.svc.biller.record_refusal(record)
        return Outcome(envelope(code, description))

    def admit(self) -> tuple[SubmitPlan, list[Channel], ActionPrice, Mode, str | None]:
        call = self.call
        plan = self.plan = prepare(call, self.path, self.data)
        catalog = self.svc.catalog.get()
        options = self.rt.options()
        key = call.context.key
        group = catalog.groups.get(call.context.group)
        allowed = group.settings.get("mj_modes") if group is not None else None
        if plan.modal_of is not None:
            self.mode = plan.modal_of.mode  # confirming a modal continues the task it belongs to
        else:
            try:
                self.mode = resolve_mode(
                    path=call.path.mode,
                    prompt=plan.prompt if plan.prompt_flags else "",
                    parent=None if plan.parent is None else plan.parent.mode,
                    key_default=key.settings.get("mj_mode"),
                    operator_default=options.default_mode,
                    allowed=allowed if isinstance(allowed, list) else None,
                )
            except ModeError as exc:
                raise Refusal(4, str(exc), "mode_not_allowed") from None
        price = price_of(plan.spec, self.mode, catalog, catalog.group_ratio(call.context.group))
        if price is None:
            raise Refusal(4, f"{plan.spec.base_key} is not available on this relay (no price)", "model_not_found")
        self.price = price
        if not (key.allows_model(plan.spec.base_key) or key.allows_model(price.key)):
            raise Refusal(4, f"This API key may not use {plan.spec.base_key}.", "model_not_allowed")
        hook = self._hook(options.notify_enabled)
        return plan, self._channels(plan, catalog, self.mode), price, self.mode, hook

    def _hook(self, enabled: bool) -> str | None:
        value = self.data.get("notifyHook")
        if value in (None, "") or not enabled:
            return None
        if not isinstance(value, str) or len(value) > 2000:
            raise Refusal(4, "notifyHook must be a URL of at most 2000 characters", "invalid_body")
        try:
            self.rt.policy.check_url(value)
        except Blocked as blocked:
            raise Refusal(4, f"notifyHook refused: {blocked.reason}", "notify_hook_refused") from None
        return value

    def _channels(self, plan: SubmitPlan, catalog: Catalog, mode: Mode) -> list[Channel]:
        bound = plan.modal_of or plan.parent
        if bound is not None:
            # Follow-ups stay on the parent's channel: the same Discord account must press the button.
            channel = next((c for c in catalog.channels if c.channel_id == bound.channel_id), None)
            if channel is None or channel.status is not ChannelStatus.ENABLED:
                raise Refusal(3, f"the channel of task {bound.task_id} is unavailable", "no_available_channel")
            return [channel]
        candidates = [
            c
            for c in catalog.channels_for(plan.spec.base_key, self.call.context.group)
            if c.type == "midjourney" and mode.value in c.settings.get("modes", [m.value for m in Mode])
        ]
        if not candidates:
            raise Refusal(3, f"no channel serves {plan.spec.base_key} in {mode.value} mode", "no_available_channel")
        return order_channels(candidates)

    def reserve(self, price: ActionPrice) -> Reservation:
        reservation, self.call.context = reserve_fresh(
            self.svc,
            self.call.context,
            hold_id=self.call.request_id,
            budget=price.budget,
            output_limit=None,
            min_output=0,
            now_ms=self.call.created_at,
            endpoint=f"mj.{self.plan.route if self.plan else 'submit'}",
            model=price.key,
        )
        return reservation

    # ---- the upstream ----------------------------------------------------------------------------

    def body_for(self, plan: SubmitPlan, channel: Channel, mode: Mode, task_id: str | None) -> dict[str, Any]:
        # The client's notifyHook is tollway's to call, never the upstream's; accountFilter and state too.
        body = {k: v for k, v in plan.body.items() if k not in ("notifyHook", "accountFilter", "state")}
        if plan.prompt_flags and channel.settings.get("mode_flags", True):
            body["prompt"] = apply_mode_flag(str(body.get("prompt", "")), mode)
        if channel.settings.get("mode_filter"):
            body["accountFilter"] = {"modes": [mode.value.upper()]}
        callback = self.rt.callback_url(self.call.base, task_id) if task_id else None
        if callback:
            body["notifyHook"] = callback
        return body

    def send(
        self, plan: SubmitPlan, channels: list[Channel], mode: Mode, task_id: str | None
    ) -> tuple[SubmitAnswer | None, Channel]:
        answer: SubmitAnswer | None = None
        channel = channels[0]
        for channel in channels[: self.svc.settings.max_channel_attempts]:
            self.attempts += 1
            secret = self.svc.channel_secrets.get(channel.channel_id)
            body = self.body_for(plan, channel, mode, task_id)
            try:
                answer = self.rt.upstream.submit(channel, secret, plan.upstream_path, body, mode)
            except UpstreamDown as exc:
                log.warning("mj channel %s failed for %s: %s", channel.channel_id, self.call.request_id, exc.reason)
                answer = None
                continue
            if answer.accepted or answer.code not in _NEXT_CHANNEL:
                return answer, channel
        return answer, channel


def _initial_state(answer: SubmitAnswer) -> StateUpdate:
    properties = answer.properties
    if answer.code == 21:
        image = properties.get("imageUrl")
        if properties.get("status") == "SUCCESS" and isinstance(image, str) and image:
            # The original proxy's "existed": the same upscale was done before; it is the result.
            return StateUpdate(TaskStatus.SUCCESS, "100%", {"imageUrl": image})
        view = {"properties": {"finalPrompt": properties["finalPrompt"]}} if properties.get("finalPrompt") else {}
        return StateUpdate(TaskStatus.MODAL, "0%", view)
    if answer.code == 22:
        return StateUpdate(TaskStatus.NOT_START, "0%", {})
    return StateUpdate(TaskStatus.SUBMITTED, "0%", {})


def _accepted_properties(answer: SubmitAnswer) -> dict[str, Any]:
    kept = ("finalPrompt", "remix", "numberOfQueues")
    return {k: answer.properties[k] for k in kept if k in answer.properties}


def submit(call: MjCall, path: str, data: Any) -> Outcome:
    """Run a submit to the end (blocking). Auth errors and other real HTTP errors are raised."""
    job = _Submit(call, path, data if isinstance(data, dict) else {})
    if not isinstance(data, dict):
        return job.refuse(4, "the body must be a JSON object", "invalid_body")
    try:
        plan, channels, price, mode, hook = job.admit()
    except Refusal as refusal:
        return job.refuse(refusal.code, refusal.description, refusal.error_code)
    try:
        reservation = job.reserve(price)
    except InsufficientQuota as exc:
        return job.refuse(4, exc.message, "insufficient_quota")
    except TollwayError as exc:
        # Not a business error (a disabled key or account, a rate guard): a real HTTP status, recorded.
        if not isinstance(exc, AuthenticationFailed):
            job.refuse(4, exc.message, exc.code, http_status=exc.status)
        raise
    return _submit_reserved(job, plan, channels, price, mode, hook, reservation)


def _submit_reserved(
    job: _Submit,
    plan: SubmitPlan,
    channels: list[Channel],
    price: ActionPrice,
    mode: Mode,
    hook: str | None,
    reservation: Reservation,
) -> Outcome:
    call, rt, svc = job.call, job.rt, job.svc
    hold = reservation.hold
    task: Task | None = None
    settled = False
    try:
        if plan.creates_task:
            task = _create_task(job, plan, channels[0], price, mode, hook, hold.key_limited)
        answer, channel = job.send(plan, channels, mode, task.task_id if task else None)
        if answer is None or not answer.accepted:
            error_code = "upstream_unavailable" if answer is None else f"mj_code_{answer.code}"
            record = _record(call, plan, plan.route, RecordStatus.ERROR, model=price.key, channel=channel,
                             error_code=error_code, mode=mode, attempts=job.attempts)  # fmt: skip
            movement = svc.biller.settle(hold, 0, record, now_ms=svc.clock_ms())
            settled = True
            if movement is not None:
                svc.biller.finish(movement)
            if task is not None:
                rt.tasks.discard(task.task_id)
            if answer is None:
                return Outcome(envelope(9, "The Midjourney upstream is unavailable; nothing was charged."))
            return Outcome(envelope(answer.code, scrub(answer.description) or "submit failed"))
        bound = task or plan.modal_of
        task_id = bound.task_id if bound is not None else None
        record = _record(call, plan, plan.route, RecordStatus.OK, model=price.key, channel=channel, task_id=task_id,
                         mode=mode, attempts=job.attempts)  # fmt: skip
        movement = svc.biller.settle(hold, price.micros, record, now_ms=svc.clock_ms())
        settled = True
        if movement is not None:
            svc.biller.finish(movement)  # before the task counts as charged: a refund must land after it
        charge = svc.biller.charged(hold, movement)
        return _accepted(job, plan, answer, channel, task, charge)
    except BaseException:
        if not settled:
            record = _record(call, plan, plan.route, RecordStatus.ERROR, model=price.key, error_code="internal_error",
                             mode=mode, attempts=job.attempts)  # fmt: skip
            movement = svc.biller.settle(hold, 0, record, now_ms=svc.clock_ms())
            if movement is not None:
                svc.biller.finish(movement)
            if task is not None:
                rt.tasks.discard(task.task_id)
        raise


def _create_task(
    job: _Submit, plan: SubmitPlan, channel: Channel, price: ActionPrice, mode: Mode, hook: str | None, limited: bool
) -> Task:
    call, options = job.call, job.rt.options()
    context = call.context
    parent = plan.parent
    state = job.data.get("state")
    bot_type = job.data.get("botType")
    image_mode = resolve_image_mode(
        path=call.path.image_mode,
        key_default=context.key.settings.get("mj_image_mode"),
        operator_default=options.default_image_mode,
    )
    now = call.created_at
    for _ in range(8):
        task = Task(
            task_id=_mint_id(job.svc.clock_ms()),
            account_id=context.account.account_id,
            key_id=context.key.key_id,
            key_hash=context.key.key_hash,
            key_limited=limited,
            hold_id=call.request_id,
            channel_id=channel.channel_id,
            action=plan.spec.action,
            price_key=price.key,
            mode=mode,
            image_mode=image_mode,
            price=price.micros,
            created_at=now,
            prompt=plan.prompt,
            state=state[:1000] if isinstance(state, str) else "",
            custom_id=plan.custom_id,
            bot_type=bot_type if isinstance(bot_type, str) else "",
            parent_id=None if parent is None else parent.task_id,
            parent_upstream_id=None if parent is None else parent.upstream_id,
            public_base=call.base,
            notify_hook=hook,
            updated_at=now,
        )
        try:
            job.rt.tasks.create(task)
            return task
        except TaskExists:
            continue  # one chance in a thousand per millisecond: mint again
    raise TollwayError("Could not allocate a task id; nothing was charged.")


def _accepted(
    job: _Submit, plan: SubmitPlan, answer: SubmitAnswer, channel: Channel, task: Task | None, charge: int
) -> Outcome:
    rt, now = job.rt, job.svc.clock_ms()
    description = scrub(answer.description) or "Submit success"
    if plan.modal_of is not None:
        rt.tasks.confirm_modal(plan.modal_of.task_id, now)
        return Outcome(envelope(answer.code, description, plan.modal_of.task_id, _accepted_properties(answer)))
    if task is None:  # an upload: no task, the result is the upstream's list of image URLs
        return Outcome(envelope(answer.code, description, answer.result, _accepted_properties(answer)))
    accepted = rt.tasks.accept(
        task.task_id,
        upstream_id=str(answer.result),
        channel_id=channel.channel_id,
        charge=charge,
        update=_initial_state(answer),
        now=now,
    )
    after = None
    if accepted is not None and accepted.notify_hook:
        current = accepted

        def after_fn() -> None:
            rt.engine.followups(current, job.svc.clock_ms())

        after = after_fn
    return Outcome(envelope(answer.code, description, task.task_id, _accepted_properties(answer)), after)
