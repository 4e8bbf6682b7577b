"""tollway.tasks.submit — the one submit orchestration every task provider plugs into: a refusal writes
one record and moves no money; an accepted submit is charged its price before the task is accepted; a
rejected or crashed one is settled at 0 and its pending task discarded; a clashing task id is minted again."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from tollway.accounts.model import KeyStatus
from tollway.config.model import Channel
from tollway.errors import InvalidRequest, NoAvailableChannel, PermissionDenied, StoreUnavailable, TollwayError
from tollway.mj.model import ImageMode, Mode, StateUpdate, Task, TaskStatus
from tollway.mj.ports import TaskStore
from tollway.mj.pricing import ActionPrice
from tollway.pricing.engine import OutputBudget
from tollway.records import RecordStatus, UsageRecord
from tollway.services import Services
from tollway.tasks.submit import Admitted, Sent, run_submit, task_record

from tests.unit.tollway.mj.kit import Env, customer, now_ms, services

PRICE = ActionPrice(key="fake_call", micros=5_000, budget=OutputBudget(Decimal("0.005"), Decimal(0)))
CHANNEL = Channel(channel_id="ch_fake", name="fake", type="fake", base_url="http://127.0.0.1:9", models=("fake_call",))


@pytest.fixture(params=["memory", "dynamodb"])
def env(request: pytest.FixtureRequest) -> Any:
    with services(request.param) as env:
        yield env


@dataclass
class FakeCall:
    context: Any
    request_id: str
    created_at: int

    def elapsed_ms(self) -> int:
        return 1


class Crash(Exception):
    pass


@dataclass
class Fake:
    """A provider whose upstream does what ``verdict`` says: "accept", "reject" or "crash"."""

    env: Env
    call: FakeCall
    verdict: str = "accept"
    refusal: TollwayError | None = None
    ids: list[str] = field(default_factory=list)  # the task ids to draft, in order (default: <request>-<n>)
    makes_task: bool = True
    answers: list[str] = field(default_factory=list)
    drafts: int = 0
    crash_http_status: int = 500
    endpoint: str = "fake.call"
    priced: ActionPrice = PRICE  # what admit() prices the submit at
    price: ActionPrice | None = None  # set by admit(), as the providers do

    @property
    def svc(self) -> Services:
        return self.env.svc

    @property
    def tasks(self) -> TaskStore:
        return self.env.rt.tasks

    def admit(self) -> Admitted:
        if self.refusal is not None:
            raise self.refusal
        self.price = self.priced
        return Admitted([CHANNEL], self.priced)

    def refuse(self, cause: TollwayError) -> str:
        code = cause.code
        self.svc.biller.record_refusal(task_record(self, RecordStatus.REFUSED, 400, error_code=code))
        return f"refused:{code}"

    def draft_task(self, channel: Channel, key_limited: bool) -> Task | None:
        if not self.makes_task:
            return None
        self.drafts += 1
        task_id = self.ids.pop(0) if self.ids else f"{self.call.request_id}-{self.drafts}"
        return Task(task_id=task_id, account_id=self.call.context.account.account_id,
                    key_id=self.call.context.key.key_id, key_hash=self.call.context.key.key_hash,
                    key_limited=key_limited, hold_id=self.call.request_id, channel_id=channel.channel_id,
                    action="CALL", price_key=PRICE.key, mode=Mode.FAST, image_mode=ImageMode.ORIGIN,
                    price=PRICE.micros, created_at=self.call.created_at, updated_at=self.call.created_at,
                    kind="fake")  # fmt: skip

    def send(self, channels: list[Channel], task: Task | None) -> Sent:
        if self.verdict == "crash":
            raise Crash
        return Sent(self.verdict == "accept", channels[0])

    def rejected(self) -> tuple[str, int, str]:
        return "rejected", 502, "fake_rejected"

    model = PRICE.key
    attempts = 1

    def units(self) -> dict[str, Any]:
        return {"action": "CALL"}

    def charged_task_id(self, task: Task | None) -> str | None:
        return None if task is None else task.task_id

    def accepted(self, task: Task | None, channel: Channel, charge: int) -> str:
        if task is not None:
            self.tasks.accept(task.task_id, upstream_id="up1", channel_id=channel.channel_id, charge=charge,
                              update=StateUpdate(TaskStatus.SUBMITTED, "0%", {}), now=now_ms())  # fmt: skip
        return f"accepted:{charge}"


def _job(env: Env, balance: int = 1_000_000, **kwargs: Any) -> Fake:
    context = customer(env.svc, balance)
    call = FakeCall(context=context, request_id=f"req{time.monotonic_ns()}", created_at=now_ms())
    return Fake(env, call, **kwargs)


def _record(job: Fake) -> UsageRecord | None:
    return job.svc.usage.get(job.call.context.account.account_id, job.call.request_id)


def _balance(job: Fake) -> int:
    balance = job.svc.ledger.balance(job.call.context.account.account_id)
    assert balance is not None
    return balance


def test_an_accepted_submit_is_charged_its_price_and_its_task_accepted(env: Env) -> None:
    job = _job(env)

    assert run_submit(job) == "accepted:5000"

    record = _record(job)
    assert record is not None and record.status is RecordStatus.OK and record.task_id == f"{job.call.request_id}-1"
    assert _balance(job) == 1_000_000 - 5_000
    task = job.tasks.get(f"{job.call.request_id}-1")
    assert task is not None and task.charge == 5_000 and task.upstream_id == "up1"


MARKED = ActionPrice(
    key="fake_call",
    micros=8_000,
    budget=OutputBudget(Decimal("0.008"), Decimal(0)),
    basis={"markup": "2", "ratio": "0.8"},
)


def test_every_record_after_pricing_carries_the_price_basis_as_token_priced_records_do(env: Env) -> None:
    accepted = _job(env, priced=MARKED)
    assert run_submit(accepted) == "accepted:8000"
    rejected = _job(env, priced=MARKED, verdict="reject")
    run_submit(rejected)
    poor = _job(env, balance=7_999, priced=MARKED)
    assert run_submit(poor) == "refused:insufficient_quota"
    for job in (accepted, rejected, poor):
        record = _record(job)
        assert record is not None and record.price_basis == {"markup": "2", "ratio": "0.8"}, job
    # At the plain list price there is no basis; nor before the submit was priced.
    for job in (_job(env), _job(env, refusal=InvalidRequest("no", code="refused"))):
        run_submit(job)
        record = _record(job)
        assert record is not None and record.price_basis == {}


def test_a_refusal_writes_one_record_and_moves_no_money(env: Env) -> None:
    job = _job(env, refusal=InvalidRequest("no", code="refused"))

    assert run_submit(job) == "refused:refused"

    record = _record(job)
    assert record is not None and record.status is RecordStatus.REFUSED
    assert _balance(job) == 1_000_000 and job.drafts == 0


def test_a_balance_that_cannot_pay_is_refused_by_the_provider(env: Env) -> None:
    job = _job(env, balance=4_999)

    assert run_submit(job) == "refused:insufficient_quota"
    assert _balance(job) == 4_999 and job.drafts == 0


def test_a_rejected_submit_is_settled_at_zero_and_its_task_discarded(env: Env) -> None:
    job = _job(env, verdict="reject")

    assert run_submit(job) == "rejected"

    record = _record(job)
    assert record is not None and (record.status, record.http_status, record.error_code) == (
        RecordStatus.ERROR,
        502,
        "fake_rejected",
    )
    assert record.channel_id == CHANNEL.channel_id
    assert _balance(job) == 1_000_000
    assert job.tasks.get(f"{job.call.request_id}-1") is None


def test_a_crash_after_the_reserve_settles_at_zero_discards_the_task_and_is_raised(env: Env) -> None:
    job = _job(env, verdict="crash")

    with pytest.raises(Crash):
        run_submit(job)

    record = _record(job)
    assert record is not None and (record.status, record.http_status, record.error_code) == (
        RecordStatus.ERROR,
        500,
        "internal_error",
    )
    assert _balance(job) == 1_000_000
    assert job.tasks.get(f"{job.call.request_id}-1") is None


def test_a_clashing_task_id_is_minted_again(env: Env) -> None:
    job = _job(env, ids=["taken", "free"])
    squatter = _job(env, ids=["taken"]).draft_task(CHANNEL, False)
    assert squatter is not None
    env.rt.tasks.create(squatter)

    assert run_submit(job) == "accepted:5000"

    assert job.drafts == 2
    task = job.tasks.get("free")
    assert task is not None and task.charge == 5_000 and task.account_id == job.call.context.account.account_id


def test_a_submit_without_a_task_is_charged_and_answered(env: Env) -> None:
    job = _job(env, makes_task=False)

    assert run_submit(job) == "accepted:5000"
    record = _record(job)
    assert record is not None and record.task_id is None


def test_real_http_errors_of_the_reserve_are_recorded_and_raised(env: Env) -> None:
    job = _job(env)
    env.svc.accounts.set_key_status(job.call.context.key.key_id, KeyStatus.DISABLED)

    with pytest.raises(PermissionDenied) as raised:
        run_submit(job)

    record = _record(job)
    assert record is not None and (record.status, record.error_code) == (RecordStatus.REFUSED, raised.value.code)
    assert _balance(job) == 1_000_000 and job.drafts == 0
    assert record.http_status == 403  # the status the client gets, not the provider's refusal status


def test_no_channel_is_a_refusal_answered_by_the_provider(env: Env) -> None:
    job = _job(env, refusal=NoAvailableChannel("no channel"))

    assert run_submit(job) == "refused:no_available_channel"
    record = _record(job)
    assert record is not None and record.status is RecordStatus.REFUSED and _balance(job) == 1_000_000


def test_a_store_failure_while_admitting_is_raised_not_answered(env: Env) -> None:
    job = _job(env, refusal=StoreUnavailable("down"))

    with pytest.raises(StoreUnavailable):
        run_submit(job)
    assert _record(job) is None and _balance(job) == 1_000_000
