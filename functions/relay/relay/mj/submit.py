"""A Midjourney submit: the task engine's provider half (``tollway.tasks.submit`` runs the money rules).

What is Midjourney's own: the request rules (``tollway.mj.request``), the mode and its price, the channel
that may serve a follow-up (the parent's), the upstream's codes (1/21/22 accepted; 3/9/23 try the next
channel) and the answer envelope (HTTP 200 with ``code``/``description``/``result``).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tollway.config.catalog import Catalog
from tollway.config.model import Channel, ChannelStatus
from tollway.errors import (
    InvalidRequest,
    NoAvailableChannel,
    NotFound,
    PermissionDenied,
    TollwayError,
    UpstreamFailed,
)
from tollway.mj.model import Mode, StateUpdate, Task, TaskStatus
from tollway.mj.modes import ModeError, apply_mode_flag, resolve_image_mode, resolve_mode
from tollway.mj.ports import TaskStore
from tollway.mj.pricing import ActionPrice, price_of
from tollway.mj.render import envelope
from tollway.mj.request import SubmitPlan, prepare
from tollway.mj.upstream import SubmitAnswer, UpstreamDown
from tollway.records import RecordStatus
from tollway.routing import order_channels
from tollway.services import Services
from tollway.ssrf import Blocked
from tollway.tasks.submit import Admitted, Sent, pending_task, run_submit, task_record
from tollway.upstream.failures import scrub

from relay.mj.auth import MjCall, owned_task
from relay.mj.errors import mj_envelope, mj_error

__all__ = ["Outcome", "submit"]

log = logging.getLogger("tollway.relay.mj")

#: Codes after which a new submit may try the next channel (no usable account, system failure, queue full).
_NEXT_CHANNEL = frozenset({3, 9, 23})


@dataclass
class Outcome:
    """The answer, and what to run after it was sent (notifyHook delivery of the accepted state)."""

    body: dict[str, Any]
    after: Callable[[], None] | None = None


def _mint_id(now_ms: int) -> str:
    """A task id in the upstreams' own format: ``<unix ms><3 random digits>`` (16 digits)."""
    return f"{now_ms}{secrets.randbelow(1000):03d}"


class _Submit:
    """One Midjourney submit, as the task engine asks for it (``tollway.tasks.submit.TaskSubmit``)."""

    crash_http_status = 200  # MJ answers every business outcome in an HTTP 200 envelope

    def __init__(self, call: MjCall, path: str, data: Any) -> None:
        self.call = call
        self.rt = call.rt
        self.svc: Services = call.rt.svc
        self.tasks: TaskStore = call.rt.tasks
        self.path = path
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        self._is_object = isinstance(data, dict)
        self.plan: SubmitPlan | None = None
        self.mode: Mode | None = None
        self.price: ActionPrice | None = None
        self.hook: str | None = None
        self.attempts = 0
        self.answer: SubmitAnswer | None = None

    @property
    def endpoint(self) -> str:
        plan = self.plan
        return f"mj.{plan.route if plan is not None else self.path.rsplit('/', 1)[-1].replace('-', '_')}"

    @property
    def model(self) -> str | None:
        return None if self.price is None else self.price.key

    def units(self) -> dict[str, Any]:
        action = None if self.plan is None else self.plan.spec.action
        mode = None if self.mode is None else self.mode.value
        return {k: v for k, v in (("action", action), ("mode", mode)) if v is not None}

    def charged_task_id(self, task: Task | None) -> str | None:
        bound = task or (None if self.plan is None else self.plan.modal_of)  # a modal confirms its own task
        return None if bound is None else bound.task_id

    # ---- before any money moves ------------------------------------------------------------------

    def refuse(self, cause: TollwayError) -> Outcome:
        """Write the refused request's one usage record; the envelope to answer (HTTP 200)."""
        status, body = mj_error(cause, business=True)
        self.svc.biller.record_refusal(task_record(self, RecordStatus.REFUSED, status, error_code=cause.code))
        return Outcome(body)

    def admit(self) -> Admitted:
        if not self._is_object:
            raise InvalidRequest("the body must be a JSON object")
        call = self.call
        plan = self.plan = prepare(lambda task_id: owned_task(call, task_id), self.path, self.data)
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
                raise PermissionDenied(str(exc), code="mode_not_allowed") from None
        price = price_of(plan.spec, self.mode, catalog, catalog.group_ratio(call.context.group))
        if price is None:
            raise NotFound(f"{plan.spec.base_key} is not available on this relay (no price)", code="model_not_found")
        self.price = price
        if not (key.allows_model(plan.spec.base_key) or key.allows_model(price.key)):
            raise PermissionDenied(f"This API key may not use {plan.spec.base_key}.", code="model_not_allowed")
        self.hook = self._hook(options.notify_enabled)
        return Admitted(self._channels(plan, catalog, self.mode), price)

    def _hook(self, enabled: bool) -> str | None:
        value = self.data.get("notifyHook")
        if value in (None, "") or not enabled:
            return None
        if not isinstance(value, str) or len(value) > 2000:
            raise InvalidRequest("notifyHook must be a URL of at most 2000 characters")
        try:
            self.rt.policy.check_url(value)
        except Blocked as blocked:
            raise InvalidRequest(f"notifyHook refused: {blocked.reason}", code="notify_hook_refused") from None
        return value

    def _channels(self, plan: SubmitPlan, catalog: Catalog, mode: Mode) -> list[Channel]:
        bound = plan.modal_of or plan.parent
        if bound is not None:
            # Follow-ups stay on the parent's channel: the same Discord account must press the button.
            channel = next((c for c in catalog.channels if c.channel_id == bound.channel_id), None)
            if channel is None or channel.status is not ChannelStatus.ENABLED:
                raise NoAvailableChannel(f"the channel of task {bound.task_id} is unavailable")
            return [channel]
        candidates = [
            c
            for c in catalog.channels_for(plan.spec.base_key, self.call.context.group)
            if c.type == "midjourney" and mode.value in c.settings.get("modes", [m.value for m in Mode])
        ]
        if not candidates:
            raise NoAvailableChannel(f"no channel serves {plan.spec.base_key} in {mode.value} mode")
        return order_channels(candidates)

    # ---- the task and the upstream ---------------------------------------------------------------

    def _admitted(self) -> tuple[SubmitPlan, Mode, ActionPrice]:
        if self.plan is None or self.mode is None or self.price is None:
            raise RuntimeError("the task engine calls admit() first")
        return self.plan, self.mode, self.price

    def draft_task(self, channel: Channel, key_limited: bool) -> Task | None:
        plan, mode, price = self._admitted()
        if not plan.creates_task:
            return None
        call, options = self.call, self.rt.options()
        context = call.context
        state = self.data.get("state")
        bot_type = self.data.get("botType")
        image_mode = resolve_image_mode(
            path=call.path.image_mode,
            key_default=context.key.settings.get("mj_image_mode"),
            operator_default=options.default_image_mode,
        )
        return pending_task(
            self,
            task_id=_mint_id(self.svc.clock_ms()),
            channel=channel,
            key_limited=key_limited,
            price=price,
            action=plan.spec.action,
            parent=plan.parent,
            mode=mode,
            image_mode=image_mode,
            prompt=plan.prompt,
            state=state[:1000] if isinstance(state, str) else "",
            custom_id=plan.custom_id,
            bot_type=bot_type if isinstance(bot_type, str) else "",
            public_base=call.base,
            notify_hook=self.hook,
        )

    def _body_for(self, plan: SubmitPlan, channel: Channel, mode: Mode, task_id: str | None) -> dict[str, Any]:
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

    def send(self, channels: list[Channel], task: Task | None) -> Sent:
        plan, mode, _ = self._admitted()
        answer: SubmitAnswer | None = None
        channel = channels[0]
        for channel in channels[: self.svc.settings.max_channel_attempts]:
            self.attempts += 1
            secret = self.svc.channel_secrets.get(channel.channel_id)
            body = self._body_for(plan, channel, mode, task.task_id if task else None)
            try:
                answer = self.rt.upstream.submit(channel, secret, plan.upstream_path, body, mode)
            except UpstreamDown as exc:
                log.warning("mj channel %s failed for %s: %s", channel.channel_id, self.call.request_id, exc.reason)
                answer = None
                continue
            if answer.accepted or answer.code not in _NEXT_CHANNEL:
                break
        self.answer = answer
        return Sent(answer is not None and answer.accepted, channel)

    def rejected(self) -> tuple[Outcome, int, str]:
        answer = self.answer
        if answer is None:
            down = UpstreamFailed("The Midjourney upstream is unavailable; nothing was charged.")
            return Outcome(mj_envelope(down)), 200, "upstream_unavailable"
        # The upstream's own envelope code and description, passed on (cleaned).
        return (
            Outcome(envelope(answer.code, scrub(answer.description) or "submit failed")),
            200,
            (f"mj_code_{answer.code}"),
        )

    def accepted(self, task: Task | None, channel: Channel, charge: int) -> Outcome:
        plan, _, _ = self._admitted()
        answer, rt = self.answer, self.rt
        if answer is None:
            raise RuntimeError("accepted() follows an accepting send()")
        now = self.svc.clock_ms()
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
                rt.engine.followups(current, self.svc.clock_ms())

            after = after_fn
        return Outcome(envelope(answer.code, description, task.task_id, _accepted_properties(answer)), after)


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
    return run_submit(_Submit(call, path, data))
