"""One task submit, for every provider: price → reserve → task → upstream → charge or release.

Runs as one blocking function in a worker thread, so a client that goes away mid-submit cannot stop it
half-way: the hold is always settled. Money rules, in order:

1. refusals before the reserve (bad body, unknown action or parent, unpriced, no channel, insufficient
   balance) write the request's one usage record and answer in the provider's wire shape. A refusal is
   a client error of the error tree, or ``NoAvailableChannel``, raised by ``admit`` (or the reserve's
   ``InsufficientQuota``); any other error (a disabled key, a rate guard, a store failure) is raised
   as a real HTTP error, recorded first when there is a key to record it for;
2. reserve exactly the action's price (group ratio applied) — one atomic write;
3. record the task as pending (its id may be in the callback URL the upstream gets; a process dying
   past this point is resolved by the sweep);
4. the upstream accepts: settle at the full price, the usage record carrying the task id, *then* mark
   the task accepted (a later refund must land after the charge). It refuses, or cannot be reached:
   settle at 0 at once and discard the task. A crash after the reserve settles at 0 too.

A provider (``relay.mj.submit``, ``relay.suno.submit``) supplies a :class:`TaskSubmit`: how to admit and
price a submit, how to call its upstream, and how its answers look. The refund of a task that fails or
times out later is ``tollway.mj.engine``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from tollway.errors import AuthenticationFailed, ClientError, InsufficientQuota, NoAvailableChannel, TollwayError
from tollway.mj.model import Task
from tollway.mj.ports import TaskExists
from tollway.records import RecordStatus, UsageRecord
from tollway.reserve import reserve_fresh

if TYPE_CHECKING:
    from tollway.auth import KeyContext
    from tollway.config.model import Channel
    from tollway.ledger.model import HoldRequest, Movement
    from tollway.mj.ports import TaskStore
    from tollway.mj.pricing import ActionPrice
    from tollway.services import Services

__all__ = ["REFUSALS", "Admitted", "Sent", "TaskCall", "TaskSubmit", "pending_task", "run_submit", "task_record"]

AnswerT = TypeVar("AnswerT")
AnswerT_co = TypeVar("AnswerT_co", covariant=True)

#: Attempts at a fresh task id before giving up (ids are random: a clash is practically never repeated).
_MINT_ATTEMPTS = 8


#: What ``admit`` raises to refuse a submit before money moves (the provider answers it in its wire shape).
REFUSALS: tuple[type[TollwayError], ...] = (ClientError, NoAvailableChannel)


@dataclass(frozen=True)
class Admitted:
    """A submit that may be reserved: the channels to try (in order) and its price."""

    channels: list[Channel]
    price: ActionPrice


@dataclass(frozen=True)
class Sent:
    """What the upstream made of the submit: accepted or not, and the channel that said so."""

    accepted: bool
    channel: Channel


class TaskCall(Protocol):
    """The call's facts the engine reads (``context`` is replaced when the reserve re-read the key)."""

    context: KeyContext
    request_id: str
    created_at: int

    def elapsed_ms(self) -> int: ...


class TaskSubmit(Protocol[AnswerT_co]):
    """A provider's half of one submit. The engine calls, in order: ``admit``; then ``refuse``, or
    ``draft_task`` (until an id is free), ``send``, and ``rejected`` or ``accepted``. Usage records are
    built by :func:`task_record` from the provider's ``endpoint``, ``model``, ``price``, ``units`` and ``attempts``."""

    @property
    def call(self) -> TaskCall: ...

    @property
    def svc(self) -> Services: ...

    @property
    def tasks(self) -> TaskStore: ...

    @property
    def endpoint(self) -> str:
        """The usage record's endpoint (``mj.imagine``, ``suno.music``…)."""
        ...

    #: The usage record's HTTP status when the submit crashes after the reserve.
    @property
    def crash_http_status(self) -> int: ...

    def admit(self) -> Admitted:
        """Validate, price and route the submit (blocking reads). Raises one of :data:`REFUSALS`."""
        ...

    def refuse(self, cause: TollwayError) -> AnswerT_co:
        """Write the refused request's one usage record; the answer (the provider's table maps ``cause``)."""
        ...

    def draft_task(self, channel: Channel, key_limited: bool) -> Task | None:
        """The pending task to record, with a fresh id (None: this submit makes no task)."""
        ...

    def send(self, channels: list[Channel], task: Task | None) -> Sent:
        """Submit upstream, trying channels in order (blocking)."""
        ...

    def rejected(self) -> tuple[AnswerT_co, int, str]:
        """After a submit the upstream did not accept: the answer, the record's HTTP status and error code."""
        ...

    @property
    def price(self) -> ActionPrice | None:
        """The submit's price, once priced: its key is the record's model, its basis the record's."""
        ...

    @property
    def model(self) -> str | None:
        """The usage record's model: the price key, once priced."""
        ...

    @property
    def attempts(self) -> int:
        """Upstream calls made so far."""
        ...

    def units(self) -> dict[str, Any]:
        """The usage record's units besides ``calls`` (the action, the mode…)."""
        ...

    def charged_task_id(self, task: Task | None) -> str | None:
        """The task id an accepted submit's record carries (the drafted task, or the one it continues)."""
        ...

    def accepted(self, task: Task | None, channel: Channel, charge: int) -> AnswerT_co:
        """After the charge: mark the task accepted; the answer."""
        ...


def pending_task(
    job: TaskSubmit[Any],
    *,
    task_id: str,
    channel: Channel,
    key_limited: bool,
    price: ActionPrice,
    action: str,
    parent: Task | None,
    **fields: Any,
) -> Task:
    """A submit's pending task: who pays, the hold, the channel and price; ``fields`` are the provider's."""
    call = job.call
    context = call.context
    return Task(
        task_id=task_id,
        account_id=context.account.account_id,
        key_id=context.key.key_id,
        key_hash=context.key.key_hash,
        key_limited=key_limited,
        hold_id=call.request_id,
        channel_id=channel.channel_id,
        action=action,
        price_key=price.key,
        price=price.micros,
        created_at=call.created_at,
        updated_at=call.created_at,
        parent_id=None if parent is None else parent.task_id,
        parent_upstream_id=None if parent is None else parent.upstream_id,
        **fields,
    )


def task_record(
    job: TaskSubmit[Any],
    status: RecordStatus,
    http_status: int,
    *,
    channel: Channel | None = None,
    task_id: str | None = None,
    error_code: str | None = None,
) -> UsageRecord:
    """A submit's one usage record (refused, failed or accepted)."""
    call = job.call
    context = call.context
    return UsageRecord(
        request_id=call.request_id,
        created_at=call.created_at,
        account_id=context.account.account_id,
        key_id=context.key.key_id,
        endpoint=job.endpoint,
        status=status,
        http_status=http_status,
        model=job.model,
        channel_id=None if channel is None else channel.channel_id,
        error_code=error_code,
        units={"calls": 1, **job.units()},
        group=context.group,
        latency_ms=call.elapsed_ms(),
        attempts=job.attempts,
        task_id=task_id,
        # As a token-priced record: the markup and group ratio the charge was priced on (refusals after
        # pricing carry it too, so a 402 shows what the submit would have cost).
        price_basis={} if job.price is None else dict(job.price.basis),
    )


def run_submit(job: TaskSubmit[AnswerT]) -> AnswerT:
    """Run a submit to the end (blocking). Authentication errors and other real HTTP errors are raised."""
    try:
        admitted = job.admit()
    except REFUSALS as refusal:
        return job.refuse(refusal)
    call = job.call
    try:
        reservation, call.context = reserve_fresh(
            job.svc,
            call.context,
            hold_id=call.request_id,
            budget=admitted.price.budget,
            output_limit=None,
            min_output=0,
            now_ms=call.created_at,
            endpoint=job.endpoint,
            model=admitted.price.key,
        )
    except InsufficientQuota as exc:
        return job.refuse(exc)
    except TollwayError as exc:
        # Not a business error (a disabled key or account, a rate guard): a real HTTP status, recorded.
        if not isinstance(exc, AuthenticationFailed):
            job.svc.biller.record_refusal(task_record(job, RecordStatus.REFUSED, exc.status, error_code=exc.code))
        raise
    return _reserved(job, admitted, reservation.hold)


def _reserved(job: TaskSubmit[AnswerT], admitted: Admitted, hold: HoldRequest) -> AnswerT:
    svc, tasks = job.svc, job.tasks
    channels, price = admitted.channels, admitted.price
    task: Task | None = None
    settled = False

    def settle(cost: int, record: UsageRecord) -> Movement | None:
        nonlocal settled
        movement = svc.biller.settle(hold, cost, record, now_ms=svc.clock_ms())
        settled = True
        if movement is not None:
            svc.biller.finish(movement)  # before the task counts as charged: a refund must land after it
        return movement

    try:
        task = _create_task(job, channels[0], hold.key_limited)
        sent = job.send(channels, task)
        if not sent.accepted:
            answer, http_status, error_code = job.rejected()
            settle(0, task_record(job, RecordStatus.ERROR, http_status, channel=sent.channel, error_code=error_code))
            if task is not None:
                tasks.discard(task.task_id)
            return answer
        record = task_record(job, RecordStatus.OK, 200, channel=sent.channel, task_id=job.charged_task_id(task))
        movement = settle(price.micros, record)
        return job.accepted(task, sent.channel, svc.biller.charged(hold, movement))
    except BaseException:
        if not settled:
            settle(0, task_record(job, RecordStatus.ERROR, job.crash_http_status, error_code="internal_error"))
            if task is not None:
                tasks.discard(task.task_id)
        raise


def _create_task(job: TaskSubmit[AnswerT], channel: Channel, key_limited: bool) -> Task | None:
    """Record the submit's pending task under a fresh id (None: the submit makes no task)."""
    for _ in range(_MINT_ATTEMPTS):
        task = job.draft_task(channel, key_limited)
        if task is None:
            return None
        try:
            job.tasks.create(task)
            return task
        except TaskExists:
            continue  # an id minted twice: mint again
    raise TollwayError("Could not allocate a task id; nothing was charged.")
