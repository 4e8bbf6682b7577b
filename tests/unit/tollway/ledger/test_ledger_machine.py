"""A Hypothesis state machine over the ledger: reserve, settle, refund, credit, repeat a write, lose a
settle's history (a crash) and sweep, overrun (shortfall), orphan holds, change a key behind a cached
copy (the unlimited key reserves on the account's key_rev) — checking after every step:

1. no balance (and no key limit) below zero;
4. exactly one usage record per settled request, none for a request still in flight;
5. the ledger balances: Σ entries + pending − open holds = balance (the audit), and the balance is
   what an independent model of the money says.

The model below knows nothing of the store's code: it only applies the money rules.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, initialize, invariant, precondition, rule
from tollway.accounts.model import ApiKey, KeyChanges
from tollway.ids import movement_id, request_id
from tollway.ledger.model import HoldRejected, HoldRequest, Movement, RejectReason
from tollway.maintenance import sweep_holds
from tollway.records import RecordStatus, UsageRecord
from tollway.usage.query import UsageFilter

from tests.conftest import TEMPLATE
from tests.support.factories import Stores, make_account, make_key, memory_stores, moto_stores, now_ms

KEY_LIMIT = 2_500


@dataclass
class ModelHold:
    request: HoldRequest
    limited: bool


class LedgerMachine(RuleBasedStateMachine):
    held = Bundle("held")
    settled = Bundle("settled")

    def make_stores(self) -> Stores:
        return memory_stores()

    def __init__(self) -> None:
        super().__init__()
        self._exit = contextlib.ExitStack()
        self.stores = self.make_stores()
        self.balance = 0
        self.key_remaining = KEY_LIMIT
        self.open: dict[str, ModelHold] = {}
        self.with_record: set[str] = set()  # requests whose history (usage record) has been written
        self.pending_history: dict[str, Movement] = {}  # credits' settled markers not yet closed

    def teardown(self) -> None:
        self._exit.close()

    @initialize(start=st.integers(0, 5_000))
    def open_account(self, start: int) -> None:
        self.account = make_account(self.stores, start)
        self.balance = start
        _, self.key = make_key(self.stores, self.account)
        _, self.limited_key = make_key(self.stores, self.account, remaining=KEY_LIMIT)
        self.key_rev = 0  # the account's key revision, as the model counts key changes
        self.cached_rev = 0  # the revision the caller's copy of the unlimited key was read with

    @rule()
    def change_a_key(self) -> None:
        """An operator changes a key (here: renames the limited one) behind every cached copy."""
        self.stores.accounts.update_key(self.limited_key.key_id, KeyChanges(name=request_id()), now=now_ms())
        self.key_rev += 1

    def _key(self, limited: bool) -> ApiKey:
        return self.limited_key if limited else self.key

    @rule(amount=st.integers(1, 3_000), lose_history=st.booleans())
    def credit(self, amount: int, lose_history: bool) -> None:
        movement = self.stores.ledger.credit(
            self.account.account_id,
            amount,
            movement_id=movement_id(),
            reason="topup",
            actor="t",
            now=now_ms() - 120_000,
        )
        self.balance += amount
        if lose_history:
            self.pending_history[movement.movement_id] = movement  # the process "died" before its history
            return
        self.stores.ledger.write_history(movement)
        self.stores.ledger.close(movement.movement_id)

    @rule(amount=st.integers(1, 2_000))
    def debit(self, amount: int) -> None:
        try:
            movement = self.stores.ledger.credit(
                self.account.account_id, -amount, movement_id=movement_id(), reason="adjust", actor="t", now=now_ms()
            )
        except HoldRejected:
            assert amount > self.balance  # refused only when it had to be
            return
        assert amount <= self.balance
        self.balance -= amount
        self.stores.ledger.write_history(movement)
        self.stores.ledger.close(movement.movement_id)

    @rule(target=held, amount=st.integers(0, 2_000), limited=st.booleans())
    def reserve(self, amount: int, limited: bool) -> str:
        key = self._key(limited)
        hold = HoldRequest(
            hold_id=request_id(),
            account_id=self.account.account_id,
            key_hash=key.key_hash,
            key_id=key.key_id,
            key_limited=limited,
            amount=amount,
            created_at=now_ms(),
            endpoint="chat.completions",
            model="m",
            key_rev=None if limited else self.cached_rev,  # as the biller sends it
        )
        if not limited and self.cached_rev != self.key_rev:
            # a stale copy is refused before money is looked at; the caller reads the pair again
            with pytest.raises(HoldRejected) as stale:
                self.stores.ledger.reserve(hold)
            assert stale.value.reason is RejectReason.KEY_KIND_CHANGED
            self.cached_rev = self.key_rev
            return hold.hold_id
        try:
            self.stores.ledger.reserve(hold)
        except HoldRejected:
            assert amount > self.balance or (limited and amount > self.key_remaining)
            return hold.hold_id
        assert amount <= self.balance and (not limited or amount <= self.key_remaining)
        self.balance -= amount
        if limited:
            self.key_remaining -= amount
        self.open[hold.hold_id] = ModelHold(hold, limited)
        return hold.hold_id

    @rule(hold_id=held)
    def repeat_reserve(self, hold_id: str) -> None:
        if hold_id in self.open:
            self.stores.ledger.reserve(self.open[hold_id].request)  # a boto3 retry: no change

    def _charge(self, hold: ModelHold, cost: int) -> tuple[int, int]:
        excess = max(cost - hold.request.amount, 0)
        available = min(self.balance, self.key_remaining) if hold.limited else self.balance
        take = min(excess, available)
        return min(cost, hold.request.amount) + take, excess - take

    @rule(target=settled, hold_id=consumes(held), cost=st.integers(0, 3_000), lose_history=st.booleans())
    def settle(self, hold_id: str, cost: int, lose_history: bool) -> str:
        hold = self.open.pop(hold_id, None)
        if hold is None:
            return hold_id
        charged, shortfall = self._charge(hold, cost)
        record = UsageRecord(
            request_id=hold_id,
            created_at=hold.request.created_at,
            account_id=self.account.account_id,
            key_id=hold.request.key_id,
            endpoint="chat.completions",
            status=RecordStatus.OK,
            http_status=200,
        )
        movement = self.stores.ledger.settle(hold.request, cost, record, now=now_ms() - 120_000)
        assert movement is not None
        assert (movement.charge, movement.shortfall) == (charged, shortfall)
        delta = hold.request.amount - charged
        self.balance += delta
        if hold.limited:
            self.key_remaining += delta
        # the settle wrote the record and closed the hold itself: a process that dies right after it
        # (lose_history) leaves nothing to finish, and finishing it anyway changes nothing
        assert movement.closed
        self.with_record.add(hold_id)
        if not lose_history:
            self.stores.ledger.write_history(movement)
            self.stores.ledger.close(hold_id)
        return hold_id

    @rule(hold_id=consumes(held))
    def refund(self, hold_id: str) -> None:
        """A failed upstream call: settle at zero."""
        hold = self.open.pop(hold_id, None)
        if hold is None:
            return
        record = UsageRecord(
            request_id=hold_id,
            created_at=hold.request.created_at,
            account_id=self.account.account_id,
            key_id=hold.request.key_id,
            endpoint="chat.completions",
            status=RecordStatus.ERROR,
            http_status=502,
        )
        movement = self.stores.ledger.settle(hold.request, 0, record, now=now_ms())
        assert movement is not None and movement.charge == 0
        self.balance += hold.request.amount
        if hold.limited:
            self.key_remaining += hold.request.amount
        self.stores.ledger.write_history(movement)
        self.stores.ledger.close(hold_id)
        self.with_record.add(hold_id)

    @rule(hold_id=settled, cost=st.integers(0, 3_000))
    def repeat_settle(self, hold_id: str, cost: int) -> None:
        before = self.stores.ledger.balance(self.account.account_id)
        hold = HoldRequest(
            hold_id=hold_id,
            account_id=self.account.account_id,
            key_hash=self.key.key_hash,
            key_id=self.key.key_id,
            key_limited=False,
            amount=0,
            created_at=now_ms(),
        )
        dummy = UsageRecord(
            request_id=hold_id,
            created_at=now_ms(),
            account_id=self.account.account_id,
            key_id=None,
            endpoint="x",
            status=RecordStatus.OK,
            http_status=200,
        )
        self.stores.ledger.settle(hold, cost, dummy, now=now_ms())
        assert self.stores.ledger.balance(self.account.account_id) == before

    @precondition(lambda self: bool(self.pending_history))
    @rule()
    def sweep(self) -> None:
        report = sweep_holds(self.stores.ledger, now_ms=now_ms(), hold_timeout_s=960, settled_grace_s=60)
        assert set(report.repaired) == set(self.pending_history)
        self.pending_history.clear()

    @precondition(lambda self: bool(self.open))
    @rule()
    def orphan_all(self) -> None:
        """Every in-flight request dies; much later maintenance refunds the holds."""
        report = sweep_holds(self.stores.ledger, now_ms=now_ms() + 2_000_000, hold_timeout_s=960, settled_grace_s=60)
        assert set(report.refunded) == set(self.open)
        for hold_id, hold in self.open.items():
            self.balance += hold.request.amount
            if hold.limited:
                self.key_remaining += hold.request.amount
            self.with_record.add(hold_id)
        assert set(report.repaired) == set(self.pending_history)
        self.open.clear()
        self.pending_history.clear()

    @invariant()
    def never_negative_and_as_modelled(self) -> None:
        if not hasattr(self, "account"):
            return
        balance = self.stores.ledger.balance(self.account.account_id)
        assert balance is not None and balance >= 0
        assert balance == self.balance
        remaining = self.stores.accounts.get_key(self.limited_key.key_hash).remaining  # type: ignore[union-attr]
        assert remaining is not None and remaining >= 0
        assert remaining == self.key_remaining

    @invariant()
    def ledger_balances(self) -> None:
        if not hasattr(self, "account"):
            return
        report = self.stores.ledger.audit(self.account.account_id)
        assert report.ok, report.to_json()

    @invariant()
    def one_record_per_finished_request(self) -> None:
        if not hasattr(self, "account"):
            return
        page = self.stores.usage.query(UsageFilter(account_id=self.account.account_id, limit=10_000))
        ids = [r.request_id for r in page.records]
        assert len(ids) == len(set(ids))
        assert set(ids) == self.with_record


TestLedgerMemory = LedgerMachine.TestCase
TestLedgerMemory.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


class DynamoLedgerMachine(LedgerMachine):
    def make_stores(self) -> Stores:
        return self._exit.enter_context(moto_stores(TEMPLATE))

    def __init__(self) -> None:
        self._exit = contextlib.ExitStack()
        stores = self._exit.enter_context(moto_stores(TEMPLATE))
        RuleBasedStateMachine.__init__(self)
        self.stores = stores
        self.balance = 0
        self.key_remaining = KEY_LIMIT
        self.open = {}
        self.with_record = set()
        self.pending_history = {}


# The same machine on DynamoDB (moto, in-process): fewer examples, each step costs moto calls. The
# memory run above explores broadly; this one proves the DynamoDB store keeps the same invariants.
TestLedgerDynamo = DynamoLedgerMachine.TestCase
TestLedgerDynamo.settings = settings(
    max_examples=15, stateful_step_count=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestLedgerDynamo = pytest.mark.timeout(300)(TestLedgerDynamo)
