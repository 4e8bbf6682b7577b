"""Every money write under the store's fault mode (in-process, over moto): lost responses (the write
lands, the answer is a timeout, the write is sent again) and DynamoDB's retryable errors.

moto ignores ``ClientRequestToken``, so these prove the other half of the idempotency rule: a refused
condition that shows the movement's own earlier write is recognised as success, never as a refusal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from tollway.accounts.dynamodb import DynamoAccounts
from tollway.accounts.model import Account, AccountStatus
from tollway.billing import Biller
from tollway.dynamo import idempotency_token
from tollway.errors import StoreUnavailable
from tollway.ids import account_id, movement_id
from tollway.ledger.dynamodb import DynamoLedger
from tollway.ledger.model import SettleDeferred
from tollway.maintenance import sweep_holds
from tollway.mj.dynamodb import DynamoTasks
from tollway.mj.model import StateUpdate, TaskStatus
from tollway.mj.ports import RefundOutcome
from tollway.mj.refunds import refund_movement
from tollway.records import RecordStatus
from tollway.redeem.dynamodb import DynamoCodes
from tollway.redeem.model import hash_code
from tollway.tables import Tables
from tollway_local.emulator.faults import Fault, FaultPlan, Faults, FaultyClient

from tests.conftest import TEMPLATE
from tests.support.factories import Stores, make_account, make_key, moto_stores, now_ms
from tests.unit.tollway.ledger.test_ledger_contract import hold_for, record_for
from tests.unit.tollway.test_redeem import batch_of


@dataclasses.dataclass
class Faulty:
    stores: Stores
    client: FaultyClient
    ledger: DynamoLedger
    accounts: DynamoAccounts

    def lose_next(self, operation: str, count: int = 1) -> None:
        """The next ``count`` calls of ``operation`` land and their responses are lost."""
        self.client.faults.set_plan(
            FaultPlan(rate=1.0, kinds=(Fault.LOST,), operations=frozenset({operation}), limit=count)
        )

    def calm(self) -> None:
        self.client.faults.set_plan(FaultPlan())


@pytest.fixture
def faulty() -> Iterator[Faulty]:
    with moto_stores(TEMPLATE) as stores:
        client = FaultyClient(stores.client, Faults())
        tables = Tables.from_settings(stores.settings)
        ledger = DynamoLedger(client, tables)  # type: ignore[arg-type]
        yield Faulty(stores, client, ledger, DynamoAccounts(client, tables, ledger))  # type: ignore[arg-type]


# ---- the fault mode itself -----------------------------------------------------------------------


def test_fault_draws_are_seeded_selectable_per_operation_and_bounded() -> None:
    plan = FaultPlan(rate=0.3, seed=7, operations=frozenset({"UpdateItem"}))
    first, second = Faults(plan), Faults(plan)
    draws = [first.draw("UpdateItem") for _ in range(200)]
    assert draws == [second.draw("UpdateItem") for _ in range(200)]  # the same seed, the same faults
    assert 30 < sum(d is not None for d in draws) < 90
    assert {d for d in draws if d is not None} == set(Fault)
    assert all(first.draw("PutItem") is None for _ in range(50))  # not selected: never faulted
    limited = Faults(FaultPlan(rate=1.0, limit=2))
    assert [limited.draw("PutItem") is not None for _ in range(4)] == [True, True, False, False]
    assert FaultPlan.from_json(plan.to_json()) == plan


def test_the_idempotency_token_is_the_movement_and_its_items() -> None:
    items = [{"Put": {"TableName": "t", "Item": {"a": {"S": "1"}}}}]
    token = idempotency_token("req_01JABCDEFGHJKMNPQRSTVWXYZ0", items)
    assert len(token) == 36 and token == idempotency_token("req_01JABCDEFGHJKMNPQRSTVWXYZ0", items)
    assert token != idempotency_token("req_01JABCDEFGHJKMNPQRSTVWXYZ1", items)
    assert token != idempotency_token("req_01JABCDEFGHJKMNPQRSTVWXYZ0", [{"Put": {"TableName": "u"}}])


def test_the_idempotency_token_ignores_key_order_and_takes_binary_values() -> None:
    one = [{"Put": {"TableName": "t", "Item": {"a": {"S": "1"}, "b": {"B": b"\x00\xff"}}}}]
    other = [{"Put": {"Item": {"b": {"B": b"\x00\xff"}, "a": {"S": "1"}}, "TableName": "t"}}]
    token = idempotency_token("req_1", one)
    assert token == idempotency_token("req_1", other)
    assert token != idempotency_token("req_1", [{"Put": {"TableName": "t", "Item": {"b": {"B": b"\x00"}}}}])


def test_money_transactions_send_the_token(faulty: Faulty) -> None:
    sent: list[dict[str, Any]] = []
    real = faulty.stores.client

    class Spy:
        def __getattr__(self, name: str) -> Any:
            attr = getattr(real, name)
            if name != "transact_write_items":
                return attr
            return lambda **kw: (sent.append(kw), attr(**kw))[1]

    ledger = DynamoLedger(Spy(), faulty.ledger.tables)  # type: ignore[arg-type]
    account = make_account(faulty.stores, 1_000)
    _, key = make_key(faulty.stores, account)
    hold = hold_for(account.account_id, key.key_hash, key.key_id, 300)
    ledger.reserve(hold)
    ledger.settle(hold, 100, record_for(hold), now=now_ms())
    ledger.credit(account.account_id, 5, movement_id=movement_id(), reason="t", actor=None, now=now_ms())
    assert len(sent) == 3 and all(len(kw["ClientRequestToken"]) == 36 for kw in sent)


# ---- a lost response on every money write ----------------------------------------------------------


def test_lost_reserve_settle_and_sweep_change_nothing_twice(faulty: Faulty) -> None:
    stores, ledger = faulty.stores, faulty.ledger
    account = make_account(stores, 1_000)
    _, key = make_key(stores, account, remaining=800)
    hold = hold_for(account.account_id, key.key_hash, key.key_id, 300, limited=True)
    faulty.lose_next("TransactWriteItems")
    ledger.reserve(hold)
    assert stores.ledger.balance(account.account_id) == 700
    faulty.lose_next("TransactWriteItems")
    movement = ledger.settle(hold, 120, record_for(hold), now=now_ms())
    # the settle's one transaction (hold closed, balance, record with its debit) landed, its answer was
    # lost: the repeat is refused on the closed hold and the refused record put returns what it wrote
    assert movement is not None and movement.charge == 120 and movement.closed
    assert faulty.client.lost == ["TransactWriteItems", "TransactWriteItems"]
    assert [h for h in stores.ledger.holds() if h.hold_id == hold.hold_id] == []
    assert stores.ledger.balance(account.account_id) == 880
    assert stores.accounts.get_key(key.key_hash).remaining == 680  # type: ignore[union-attr]

    # the sweep's settle of an orphaned hold, its response lost: refunded once
    orphan = dataclasses.replace(
        hold_for(account.account_id, key.key_hash, key.key_id, 200, limited=True), created_at=1
    )
    ledger.reserve(orphan)
    faulty.lose_next("TransactWriteItems")
    report = sweep_holds(ledger, now_ms=now_ms(), hold_timeout_s=1, settled_grace_s=0)
    assert report.refunded == [orphan.hold_id]
    assert stores.ledger.balance(account.account_id) == 880
    assert stores.ledger.audit(account.account_id).ok


def test_a_lost_credit_and_a_lost_debit_move_the_balance_once(faulty: Faulty) -> None:
    stores, ledger = faulty.stores, faulty.ledger
    account = make_account(stores, 100)
    faulty.lose_next("TransactWriteItems")
    credit = ledger.credit(account.account_id, 400, movement_id=movement_id(), reason="topup", actor="t", now=now_ms())
    assert credit.entries[0].amount == 400
    # a debit of everything: its repeat would fail "balance >= 500" — the marker says it was ours
    faulty.lose_next("TransactWriteItems")
    debit = ledger.credit(account.account_id, -500, movement_id=movement_id(), reason="adj", actor="t", now=now_ms())
    assert debit.entries[0].amount == -500
    for movement in (credit, debit):
        ledger.write_history(movement)
        ledger.close(movement.movement_id)
    assert stores.ledger.balance(account.account_id) == 0
    assert stores.ledger.audit(account.account_id).ok


def _new_account() -> Account:
    return Account(account_id(), "lost", "default", AccountStatus.ACTIVE, 0, now_ms())


def test_a_lost_account_creation_with_credit_is_not_exists(faulty: Faulty) -> None:
    account = _new_account()
    faulty.lose_next("TransactWriteItems")
    movement = faulty.accounts.create_account(
        account, initial_credit=7_000, movement_id=movement_id(), reason="signup", actor="t", now=now_ms()
    )
    assert movement is not None and movement.entries[0].amount == 7_000
    assert faulty.stores.ledger.balance(account.account_id) == 7_000
    with pytest.raises(ValueError, match="exists"):  # a real second creation still is one
        faulty.accounts.create_account(
            account, initial_credit=7_000, movement_id=movement_id(), reason="signup", actor="t", now=now_ms()
        )


def test_a_lost_account_creation_without_credit_is_not_exists(faulty: Faulty) -> None:
    account = _new_account()
    faulty.lose_next("PutItem")
    assert (
        faulty.accounts.create_account(account, initial_credit=0, movement_id="", reason="", actor=None, now=1) is None
    )
    assert faulty.stores.ledger.balance(account.account_id) == 0
    other = dataclasses.replace(account, name="someone else")
    with pytest.raises(ValueError, match="exists"):
        faulty.accounts.create_account(other, initial_credit=0, movement_id="", reason="", actor=None, now=1)


def test_a_lost_redemption_credits_once_and_says_so(faulty: Faulty) -> None:
    stores = faulty.stores
    codes = DynamoCodes(
        faulty.client,  # type: ignore[arg-type]
        faulty.ledger,
        codes_table=stores.settings.codes_table,
        config_table=stores.settings.config_table,
    )
    account = make_account(stores, 100)
    _, key = make_key(stores, account)
    (code,) = batch_of(codes, 5_000, 1)
    faulty.lose_next("TransactWriteItems")
    now = now_ms()
    done = codes.redeem(
        hash_code(code),
        account_id=account.account_id,
        key_hash=key.key_hash,
        key_id=key.key_id,
        movement_id=movement_id(now),
        now=now,
    )
    assert done.code.value == 5_000
    assert stores.ledger.balance(account.account_id) == 5_100
    faulty.ledger.write_history(done.movement)
    faulty.ledger.close(done.movement.movement_id)
    assert stores.ledger.audit(account.account_id).ok


def test_a_lost_refund_is_done_once(faulty: Faulty) -> None:
    from tests.unit.tollway.mj.kit import charged_task, customer, services

    with services("dynamodb") as env:
        svc = env.svc
        who = customer(svc, 1_000_000)
        task = charged_task(env, who, 200_000)
        env.rt.tasks.apply(task.task_id, StateUpdate(TaskStatus.FAILURE, "", {"failReason": "x"}), now_ms())
        ledger = svc.ledger
        assert isinstance(ledger, DynamoLedger)
        client = FaultyClient(ledger.client, Faults())
        tasks = DynamoTasks(client, svc.settings.tasks_table, ledger.tables, ledger)  # type: ignore[arg-type]
        client.faults.set_plan(
            FaultPlan(rate=1.0, kinds=(Fault.LOST,), operations=frozenset({"TransactWriteItems"}), limit=1)
        )
        stored = tasks.get(task.task_id)
        assert stored is not None
        record = svc.usage.get(task.account_id, task.hold_id)
        outcome = tasks.refund(stored, refund_movement(stored, record, "failure", now_ms()), now_ms())
        assert outcome is RefundOutcome.DONE and client.lost == ["TransactWriteItems"]
        assert svc.ledger.balance(who.account.account_id) == 1_000_000


# ---- every kind of fault, at random ---------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_money_stays_exact_under_random_store_faults(faulty: Faulty, seed: int) -> None:
    stores, ledger = faulty.stores, faulty.ledger
    biller = Biller(ledger)  # history and close failures are left to maintenance, as in the relay
    account = make_account(stores, 100_000)
    _, key = make_key(stores, account, remaining=60_000)
    faulty.client.faults.set_plan(FaultPlan(rate=0.25, seed=seed))
    expected = 100_000
    rounds = 40  # a request is two store calls: enough of them for every fault kind to happen
    for n in range(rounds):
        hold = hold_for(account.account_id, key.key_hash, key.key_id, 1_000, limited=True)
        ledger.reserve(hold)
        movement = ledger.settle(hold, 300 + n, record_for(hold), now=now_ms())
        assert movement is not None and movement.charge == 300 + n
        expected -= 300 + n
        biller.finish(movement)
        if n % 5 == 0:
            credit = ledger.credit(
                account.account_id, 50, movement_id=movement_id(), reason="t", actor=None, now=now_ms()
            )
            biller.finish(credit)
            expected += 50
    assert faulty.client.faults.total() > 10  # the faults really happened
    faulty.calm()
    sweep_holds(ledger, now_ms=now_ms(), hold_timeout_s=3600, settled_grace_s=0)  # maintenance finishes
    assert stores.ledger.balance(account.account_id) == expected
    assert stores.accounts.get_key(key.key_hash).remaining == 60_000 - sum(300 + n for n in range(rounds))  # type: ignore[union-attr]
    assert [h for h in stores.ledger.holds() if h.account_id == account.account_id] == []
    assert stores.ledger.audit(account.account_id).ok


# ---- a settle that cannot land (defect 4) ---------------------------------------------------------


def _store_refuses(faulty: Faulty, *operations: str) -> None:
    faulty.client.faults.set_plan(FaultPlan(rate=1.0, kinds=(Fault.INTERNAL,), operations=frozenset(operations)))


def test_a_settle_the_store_refuses_keeps_its_charge_and_record_for_the_sweep(faulty: Faulty) -> None:
    stores, ledger = faulty.stores, faulty.ledger
    account = make_account(stores, 1_000)
    _, key = make_key(stores, account)
    hold = hold_for(account.account_id, key.key_hash, key.key_id, 300)
    ledger.reserve(hold)
    _store_refuses(faulty, "TransactWriteItems")

    with pytest.raises(SettleDeferred):
        ledger.settle(hold, 120, record_for(hold), now=now_ms())
    assert Biller(ledger).settle(hold, 120, record_for(hold), now_ms=now_ms()) is None  # the relay goes on

    faulty.calm()
    report = sweep_holds(ledger, now_ms=now_ms(), hold_timeout_s=3600, settled_grace_s=0)
    assert report.settled_due == [hold.hold_id] and report.refunded == []
    assert stores.ledger.balance(account.account_id) == 880  # the real charge, not a giveaway
    record = stores.usage.get(account.account_id, hold.hold_id)
    assert record is not None and record.status is RecordStatus.OK and record.charge == 120
    assert stores.ledger.audit(account.account_id).ok


def test_a_settle_and_its_due_both_refused_leave_the_hold_to_be_refunded(faulty: Faulty) -> None:
    stores, ledger = faulty.stores, faulty.ledger
    account = make_account(stores, 1_000)
    _, key = make_key(stores, account)
    hold = dataclasses.replace(hold_for(account.account_id, key.key_hash, key.key_id, 300), created_at=1)
    ledger.reserve(hold)
    _store_refuses(faulty, "TransactWriteItems", "UpdateItem")

    with pytest.raises(StoreUnavailable):
        ledger.settle(hold, 120, record_for(hold), now=now_ms())

    faulty.calm()
    report = sweep_holds(ledger, now_ms=now_ms(), hold_timeout_s=1, settled_grace_s=0)
    assert report.refunded == [hold.hold_id]  # the store was down: nothing charged (the client got a 503)
    assert stores.ledger.balance(account.account_id) == 1_000


def test_a_settle_that_landed_before_the_store_failed_is_recognised(faulty: Faulty) -> None:
    stores, ledger = faulty.stores, faulty.ledger
    account = make_account(stores, 1_000)
    _, key = make_key(stores, account)
    hold = hold_for(account.account_id, key.key_hash, key.key_id, 300)
    ledger.reserve(hold)
    real_draw = faulty.client.faults.draw
    calls: list[str] = []

    def lost_then_down(operation: str) -> Fault | None:
        calls.append(operation)
        if operation != "TransactWriteItems":
            return None
        return Fault.LOST if len(calls) == 1 else Fault.INTERNAL

    faulty.client.faults.draw = lost_then_down  # type: ignore[method-assign]
    movement = ledger.settle(hold, 120, record_for(hold), now=now_ms())
    faulty.client.faults.draw = real_draw  # type: ignore[method-assign]

    assert movement is not None and movement.charge == 120  # its own marker, read back
    assert stores.ledger.balance(account.account_id) == 880
