"""The task store contract, run on both implementations (memory and DynamoDB on moto): forward-only
state, accept/discard once, the exactly-once refund transaction and its ledger marker, hook leases."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from tollway.ledger.model import EntryKind, HoldState
from tollway.mj.model import TERMINAL_RANK, Phase, StateUpdate, TaskStatus
from tollway.mj.ports import RefundOutcome, TaskExists
from tollway.mj.refunds import refund_id_of, refund_movement
from tollway.records import RecordStatus

from tests.unit.tollway.mj.kit import Env, audit_ok, charged_task, customer, now_ms, services, settle_submit


@pytest.fixture(params=["memory", "dynamodb"])
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    with services(request.param) as made:
        yield made


FAILED = StateUpdate(TaskStatus.FAILURE, "", {"failReason": "boom"})


def _refund(env: Env, task_id: str) -> RefundOutcome:
    task = env.rt.tasks.get(task_id)
    assert task is not None
    record = env.svc.usage.get(task.account_id, task.hold_id)
    return env.rt.tasks.refund(task, refund_movement(task, record, "failure", now_ms()), now_ms())


def test_a_task_id_is_taken_once(env: Env) -> None:
    who = customer(env.svc, 1_000_000)
    task = charged_task(env, who, 200_000)
    with pytest.raises(TaskExists):
        env.rt.tasks.create(task.replace(phase=Phase.PENDING))
    assert env.rt.tasks.get(task.task_id) == task
    assert env.rt.tasks.get("1") is None


def test_accept_happens_once_and_discard_only_drops_pending_tasks(env: Env) -> None:
    who = customer(env.svc, 1_000_000)
    task = charged_task(env, who, 200_000)
    again = env.rt.tasks.accept(
        task.task_id, upstream_id="other", channel_id="x", charge=1, update=FAILED, now=now_ms()
    )
    assert again is None
    env.rt.tasks.discard(task.task_id)  # accepted: kept
    stored = env.rt.tasks.get(task.task_id)
    assert stored is not None and stored.upstream_id == task.upstream_id and stored.charge == 200_000
    pending = task.replace(task_id="9" + task.task_id[1:], phase=Phase.PENDING)
    env.rt.tasks.create(pending)
    env.rt.tasks.discard(pending.task_id)
    assert env.rt.tasks.get(pending.task_id) is None


def test_state_only_moves_forward_and_the_first_final_state_wins(env: Env) -> None:
    who = customer(env.svc, 1_000_000)
    task = charged_task(env, who, 200_000)
    tasks = env.rt.tasks
    steps = [
        (StateUpdate(TaskStatus.IN_PROGRESS, "50%", {"imageUrl": "p50"}), True),
        (StateUpdate(TaskStatus.IN_PROGRESS, "20%", {"imageUrl": "p20"}), False),  # progress backwards
        (StateUpdate(TaskStatus.SUBMITTED, "0%", {}), False),  # status backwards
        (StateUpdate(TaskStatus.IN_PROGRESS, "50%", {"imageUrl": "again"}), False),  # a duplicate
        (StateUpdate(TaskStatus.SUCCESS, "100%", {"imageUrl": "final"}), True),
        (FAILED, False),  # a later final state does not replace the first
        (StateUpdate(TaskStatus.IN_PROGRESS, "99%", {}), False),
    ]
    for update, moves in steps:
        applied, current = tasks.apply(task.task_id, update, now_ms())
        assert applied is moves, update
        assert current is not None
    final = tasks.get(task.task_id)
    assert final is not None
    assert (final.status, final.progress, final.view, final.rank) == (
        TaskStatus.SUCCESS,
        "100%",
        {"imageUrl": "final"},
        TERMINAL_RANK,
    )


def test_news_about_unknown_or_pending_tasks_changes_nothing(env: Env) -> None:
    assert env.rt.tasks.apply("123", FAILED, now_ms()) == (False, None)
    who = customer(env.svc, 1_000_000)
    task = charged_task(env, who, 200_000)
    pending = task.replace(task_id="8" + task.task_id[1:], phase=Phase.PENDING, status=TaskStatus.NOT_START, rank=0)
    env.rt.tasks.create(pending)
    applied, current = env.rt.tasks.apply(pending.task_id, FAILED, now_ms())
    assert not applied and current is not None and current.status is TaskStatus.NOT_START


def test_a_confirmed_modal_cannot_be_reopened_by_a_late_modal_report(env: Env) -> None:
    who = customer(env.svc, 1_000_000)
    task = charged_task(env, who, 200_000)
    tasks = env.rt.tasks
    assert tasks.apply(task.task_id, StateUpdate(TaskStatus.MODAL, "0%", {}), now_ms())[0]
    confirmed = tasks.confirm_modal(task.task_id, now_ms())
    assert confirmed is not None and confirmed.status is TaskStatus.SUBMITTED
    assert tasks.confirm_modal(task.task_id, now_ms()) is None  # only a MODAL task is confirmed
    assert not tasks.apply(task.task_id, StateUpdate(TaskStatus.MODAL, "0%", {}), now_ms())[0]
    assert tasks.apply(task.task_id, StateUpdate(TaskStatus.IN_PROGRESS, "10%", {}), now_ms())[0]


def test_a_failed_task_is_refunded_exactly_once_with_its_own_ledger_entry(env: Env) -> None:
    svc = env.svc
    who = customer(svc, 1_000_000)
    task = charged_task(env, who, 200_000)
    assert svc.ledger.balance(who.account.account_id) == 800_000
    assert _refund(env, task.task_id) is RefundOutcome.NOT_DUE  # not failed yet
    env.rt.tasks.apply(task.task_id, FAILED, now_ms())

    assert _refund(env, task.task_id) is RefundOutcome.DONE
    assert _refund(env, task.task_id) is RefundOutcome.NOT_DUE
    assert svc.ledger.balance(who.account.account_id) == 1_000_000

    # The refund is a settled marker until its history is written (the marker → history → close path).
    (marker,) = [h for h in svc.ledger.holds() if h.hold_id == refund_id_of(task)]
    assert marker.state is HoldState.SETTLED and marker.movement is not None
    assert audit_ok(svc, who.account.account_id)  # pending entries count until they are written
    svc.biller.finish(marker.movement)
    assert not [h for h in svc.ledger.holds() if h.account_id == who.account.account_id]
    assert audit_ok(svc, who.account.account_id)

    stored = env.rt.tasks.get(task.task_id)
    assert stored is not None and stored.refunded_at is not None and not stored.refund_due
    record = svc.usage.get(who.account.account_id, task.hold_id)
    assert record is not None
    assert (record.charge, record.status, record.task_id) == (0, RecordStatus.ERROR, task.task_id)
    assert record.entry_ids == (f"{task.hold_id}#charge", f"{refund_id_of(task)}#refund")
    assert record.error_code == "mj_task_failure"


def test_concurrent_refunds_pay_once(env: Env) -> None:
    if env.name == "dynamodb":
        pytest.skip("moto is not thread-safe in-process; the emulator race is in tests/integration/mj")
    svc = env.svc
    who = customer(svc, 1_000_000)
    task = charged_task(env, who, 200_000)
    env.rt.tasks.apply(task.task_id, FAILED, now_ms())
    outcomes: list[RefundOutcome] = []
    threads = [threading.Thread(target=lambda: outcomes.append(_refund(env, task.task_id))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == sorted([RefundOutcome.DONE] + [RefundOutcome.NOT_DUE] * 7)
    assert svc.ledger.balance(who.account.account_id) == 1_000_000


def test_the_refund_waits_until_the_submits_own_hold_is_closed(env: Env) -> None:
    svc = env.svc
    who = customer(svc, 1_000_000)
    task = charged_task(env, who, 200_000, close_submit=False)  # its settle deferred to maintenance
    env.rt.tasks.apply(task.task_id, FAILED, now_ms())
    assert _refund(env, task.task_id) is RefundOutcome.DEFERRED
    assert svc.ledger.balance(who.account.account_id) == 800_000
    settle_submit(env, task)  # maintenance settles the submit at its price, closing its hold
    assert svc.ledger.balance(who.account.account_id) == 800_000
    assert _refund(env, task.task_id) is RefundOutcome.DONE
    assert svc.ledger.balance(who.account.account_id) == 1_000_000


def test_a_limited_key_gets_its_limit_back_with_the_refund(env: Env) -> None:
    svc = env.svc
    who = customer(svc, 1_000_000, limit=500_000)
    task = charged_task(env, who, 200_000)
    key = svc.accounts.get_key(who.key.key_hash)
    assert key is not None and key.remaining == 300_000
    env.rt.tasks.apply(task.task_id, FAILED, now_ms())
    assert _refund(env, task.task_id) is RefundOutcome.DONE
    key = svc.accounts.get_key(who.key.key_hash)
    assert key is not None and key.remaining == 500_000


def test_successful_and_uncharged_tasks_are_never_refunded(env: Env) -> None:
    svc = env.svc
    who = customer(svc, 1_000_000)
    done = charged_task(env, who, 200_000)
    env.rt.tasks.apply(done.task_id, StateUpdate(TaskStatus.SUCCESS, "100%", {}), now_ms())
    assert _refund(env, done.task_id) is RefundOutcome.NOT_DUE
    free = charged_task(env, who, 0)
    env.rt.tasks.apply(free.task_id, FAILED, now_ms())
    assert _refund(env, free.task_id) is RefundOutcome.NOT_DUE
    assert svc.ledger.balance(who.account.account_id) == 800_000


def test_the_refund_entry_is_a_refund_of_the_charge(env: Env) -> None:
    svc = env.svc
    who = customer(svc, 1_000_000)
    task = charged_task(env, who, 120_000)
    env.rt.tasks.apply(task.task_id, FAILED, now_ms())
    record = svc.usage.get(who.account.account_id, task.hold_id)
    movement = refund_movement(task, record, "failure", now_ms())
    ((entry,),) = [movement.entries]
    assert (entry.kind, entry.amount, entry.account_id) == (EntryKind.REFUND, 120_000, who.account.account_id)


def test_one_deliverer_holds_a_hook_lease_and_a_delivered_state_is_not_sent_again(env: Env) -> None:
    who = customer(env.svc, 1_000_000)
    task = charged_task(env, who, 200_000)
    tasks, now = env.rt.tasks, now_ms()
    assert tasks.claim_hook(task.task_id, 1000, now, 60_000)
    assert not tasks.claim_hook(task.task_id, 1000, now, 60_000)  # leased
    assert tasks.claim_hook(task.task_id, 1000, now + 61_000, 60_000)  # the lease expired
    tasks.hook_done(task.task_id, 1000)
    assert not tasks.claim_hook(task.task_id, 1000, now, 60_000)  # delivered
    assert tasks.claim_hook(task.task_id, TERMINAL_RANK, now, 60_000)
    tasks.hook_failed(task.task_id, attempts=1, next_at=now + 30_000, error=None)
    stored = tasks.get(task.task_id)
    assert stored is not None and (stored.hook_attempts, stored.hook_next_at, stored.hook_rank) == (
        1,
        now + 30_000,
        1000,
    )
    assert tasks.claim_hook(task.task_id, TERMINAL_RANK, now, 60_000)  # the failure released the lease
    tasks.hook_failed(task.task_id, attempts=2, next_at=0, error="gave up")
    stored = tasks.get(task.task_id)
    assert stored is not None and stored.hook_rank == TERMINAL_RANK and stored.hook_error == "gave up"


def test_open_tasks_are_listed_oldest_first_until_closed(env: Env) -> None:
    who = customer(env.svc, 10_000_000)
    first = charged_task(env, who, 100_000)
    second = charged_task(env, who, 100_000)
    found = [t.task_id for t in env.rt.tasks.open_tasks(10)]
    assert found.index(first.task_id) < found.index(second.task_id)
    env.rt.tasks.close(first.task_id)
    assert [t.task_id for t in env.rt.tasks.open_tasks(10)] == [second.task_id]
    closed = env.rt.tasks.get(first.task_id)
    assert closed is not None and not closed.open
    assert {t.task_id for t in env.rt.tasks.get_many([first.task_id, "1", second.task_id, first.task_id])} == {
        first.task_id,
        second.task_id,
    }


def test_image_copies_are_recorded(env: Env) -> None:
    who = customer(env.svc, 1_000_000)
    task = charged_task(env, who, 100_000)
    env.rt.tasks.set_image(task.task_id, image_key="mj-images/a/b", error=None)
    stored = env.rt.tasks.get(task.task_id)
    assert stored is not None and (stored.image_key, stored.image_error) == ("mj-images/a/b", None)
    env.rt.tasks.set_image(task.task_id, image_key=None, error="too large")
    stored = env.rt.tasks.get(task.task_id)
    assert stored is not None and (stored.image_key, stored.image_error) == (None, "too large")


def test_a_refund_gives_back_the_keys_limit_and_its_daily_and_monthly_caps(env: Env) -> None:
    # issue 11 defect 6: the refund gave back the key's own limit but not its spend caps
    from tollway.accounts.model import KeyChanges
    from tollway.auth import load_context

    svc = env.svc
    who = customer(svc, 1_000_000, limit=500_000)
    svc.accounts.update_key(who.key.key_id, KeyChanges(daily_cap=400_000, monthly_cap=600_000), now=now_ms())
    capped = load_context(svc.accounts, who.key.key_hash, who.account.account_id)
    assert capped is not None and capped.key.guards is not None
    task = charged_task(env, capped, 200_000)
    charged = svc.accounts.get_key(who.key.key_hash)
    assert charged is not None
    assert (charged.remaining, charged.guard_state.day_left, charged.guard_state.month_left) == (
        300_000,
        200_000,
        400_000,
    )
    env.rt.tasks.apply(task.task_id, FAILED, now_ms())

    assert _refund(env, task.task_id) is RefundOutcome.DONE

    key = svc.accounts.get_key(who.key.key_hash)
    assert key is not None
    assert (key.remaining, key.guard_state.day_left, key.guard_state.month_left) == (500_000, 400_000, 600_000)
    assert svc.ledger.balance(who.account.account_id) == 1_000_000
