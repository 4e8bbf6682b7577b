"""Helpers of the Midjourney unit tests: services on memory or moto (with the template's TasksTable),
accounts and keys, charged tasks made the way the relay makes them."""

from __future__ import annotations

import contextlib
import copy
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from tollway.accounts.model import Account, AccountStatus, ApiKey, KeyStatus
from tollway.auth import KeyContext
from tollway.ids import account_id, key_id, movement_id, request_id
from tollway.keys import display_prefix, generate_key, hash_key
from tollway.ledger.model import HoldRequest
from tollway.memory.backend import MemoryBackend
from tollway.mj.model import ImageMode, Mode, StateUpdate, Task, TaskStatus
from tollway.mj.runtime import MjRuntime
from tollway.pricing.engine import OutputBudget
from tollway.records import RecordStatus, UsageRecord
from tollway.services import Services
from tollway.settings import Settings
from tollway.ssrf import Resolver

from tests.support.factories import shared_boto_session, template_tables

ROOT = Path(__file__).resolve().parents[4]
TEMPLATE = ROOT / "template.yaml"
_ids = itertools.count(1)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Env:
    name: str
    svc: Services
    rt: MjRuntime


@contextlib.contextmanager
def services(name: str, settings: Settings | None = None, resolver: Resolver | None = None) -> Iterator[Env]:
    """Services (and the MJ runtime) on memory or on in-process moto with every template table."""
    settings = settings or Settings()
    if name == "memory":
        svc = Services.in_memory(settings, MemoryBackend())
        rt = MjRuntime(svc, resolver=resolver)
        try:
            yield Env(name, svc, rt)
        finally:
            rt.close()
        return
    import boto3
    from moto import mock_aws
    from tollway_local.emulator.resources import create_resources

    with mock_aws():
        client = boto3.client("dynamodb", region_name=settings.region)
        create_resources({"dynamodb": client}, copy.deepcopy(template_tables(TEMPLATE)))
        if settings.mj_image_bucket:
            boto3.client("s3", region_name=settings.region).create_bucket(Bucket=settings.mj_image_bucket)
        with shared_boto_session():
            svc = Services.on_aws(settings)
        rt = MjRuntime(svc, resolver=resolver)
        try:
            yield Env(name, svc, rt)
        finally:
            rt.close()


def customer(svc: Services, balance: int, *, limit: int | None = None, group: str = "default") -> KeyContext:
    """An account with ``balance`` micro-USD (its credit's history written) and a key."""
    now = now_ms()
    account = Account(
        account_id=account_id(),
        name=f"mj {next(_ids)}",
        group=group,
        status=AccountStatus.ACTIVE,
        balance=0,
        created_at=now,
    )
    movement = svc.accounts.create_account(
        account, initial_credit=balance, movement_id=movement_id(), reason="test", actor="test", now=now
    )
    if movement is not None:
        svc.biller.finish(movement)
    secret = generate_key()
    key = ApiKey(
        key_hash=hash_key(secret),
        key_id=key_id(),
        account_id=account.account_id,
        name="mj",
        prefix=display_prefix(secret),
        status=KeyStatus.ACTIVE,
        created_at=now,
        remaining=limit,
    )
    svc.accounts.create_key(key)
    stored = svc.accounts.get_account(account.account_id)
    assert stored is not None
    return KeyContext(key=key, account=stored)


def charged_task(
    env: Env,
    context: KeyContext,
    price: int,
    *,
    close_submit: bool = True,
    channel_id: str = "ch_mj",
    upstream_id: str | None = None,
    accept: bool = True,
    **fields: object,
) -> Task:
    """A task submitted as the relay does it: reserve the price, pending task, settle at the price with the
    record carrying the task id, history written (unless ``close_submit`` is False), task accepted."""
    svc, rt = env.svc, env.rt
    rid = request_id()
    now = now_ms()
    reservation = svc.biller.reserve(
        context,
        hold_id=rid,
        budget=OutputBudget(fixed_usd=Decimal(price) / 1_000_000, per_output_token_usd=Decimal(0)),
        output_limit=None,
        min_output=0,
        now_ms=now,
        endpoint="mj.imagine",
        model="mj_fast_imagine",
    )
    task = Task(
        task_id=f"{now}{next(_ids) % 1000:03d}",
        account_id=context.account.account_id,
        key_id=context.key.key_id,
        key_hash=context.key.key_hash,
        key_limited=context.key.limited,
        hold_id=rid,
        channel_id=channel_id,
        action="IMAGINE",
        price_key="mj_fast_imagine",
        mode=Mode.FAST,
        image_mode=ImageMode.RELAY,
        price=price,
        created_at=now,
        prompt="a cat",
        updated_at=now,
    ).replace(**fields)
    rt.tasks.create(task)
    record = UsageRecord(
        request_id=rid,
        created_at=now,
        account_id=context.account.account_id,
        key_id=context.key.key_id,
        endpoint="mj.imagine",
        status=RecordStatus.OK,
        http_status=200,
        model="mj_fast_imagine",
        channel_id=channel_id,
        task_id=task.task_id,
    )
    if close_submit:
        movement = svc.biller.settle(reservation.hold, price, record, now_ms=now)
        assert movement is not None
        svc.biller.finish(movement)
        charge = movement.charge
    else:
        # the submit's settle could not land: its hold stays open for maintenance to settle at the price
        UNSETTLED[task.task_id] = (reservation.hold, record)
        charge = price
    if not accept:
        return task  # the process died before it recorded the upstream's answer
    accepted = rt.tasks.accept(
        task.task_id,
        upstream_id=upstream_id or f"up{task.task_id}",
        channel_id=channel_id,
        charge=charge,
        update=StateUpdate(TaskStatus.SUBMITTED, "0%", {}),
        now=now,
    )
    assert accepted is not None
    return accepted


# Submits left unsettled by ``charged_task(close_submit=False)``: task id -> (hold, record).
UNSETTLED: dict[str, tuple[HoldRequest, UsageRecord]] = {}


def settle_submit(env: Env, task: Task) -> None:
    """Settle a submit ``charged_task`` left open, at its price (as maintenance settles a deferred one)."""
    hold, record = UNSETTLED.pop(task.task_id)
    movement = env.svc.biller.settle(hold, task.price, record, now_ms=now_ms())
    assert movement is not None and movement.charge == task.price


def audit_ok(svc: Services, account_id: str) -> bool:
    return svc.ledger.audit(account_id).ok
