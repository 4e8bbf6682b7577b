"""The ledger contract, run against the in-memory store and the DynamoDB store (moto, in-process)."""

from __future__ import annotations

import dataclasses
import time

import pytest
from tollway.accounts.model import AccountStatus, KeyChanges, KeyStatus
from tollway.ids import movement_id, request_id
from tollway.ledger.model import EntryKind, HoldRejected, HoldRequest, HoldState, RejectReason
from tollway.maintenance import sweep_holds
from tollway.records import RecordStatus, UsageRecord

from tests.support.factories import Stores, make_account, make_key, now_ms


def hold_for(account_id: str, key_hash: str, key_id: str, amount: int, *, limited: bool = False) -> HoldRequest:
    return HoldRequest(
        hold_id=request_id(),
        account_id=account_id,
        key_hash=key_hash,
        key_id=key_id,
        key_limited=limited,
        amount=amount,
        created_at=now_ms(),
        endpoint="chat.completions",
        model="m",
    )


def record_for(hold: HoldRequest) -> UsageRecord:
    return UsageRecord(
        request_id=hold.hold_id,
        created_at=hold.created_at,
        account_id=hold.account_id,
        key_id=hold.key_id,
        endpoint="chat.completions",
        status=RecordStatus.OK,
        http_status=200,
        model="m",
        tokens={"input": 10, "output": 5},
    )


def finish(stores: Stores, hold: HoldRequest, cost: int) -> None:
    movement = stores.ledger.settle(hold, cost, record_for(hold), now=now_ms())
    assert movement is not None
    stores.ledger.write_history(movement)
    stores.ledger.close(movement.movement_id)


def assert_audit_clean(stores: Stores, account_id: str) -> None:
    report = stores.ledger.audit(account_id)
    assert report.ok, report.to_json()


def test_reserve_debits_balance_and_records_open_hold(stores: Stores) -> None:
    account = make_account(stores, 1_000)
    _, key = make_key(stores, account)
    hold = hold_for(account.account_id, key.key_hash, key.key_id, 300)
    stores.ledger.reserve(hold)
    assert stores.ledger.balance(account.account_id) == 700
    (stored,) = [h for h in stores.ledger.holds() if h.hold_id == hold.hold_id]
    assert stored.state is HoldState.OPEN and stored.amount == 300
    assert_audit_clean(stores, account.account_id)


def test_reserve_refused_when_balance_short_reveals_balance_and_changes_nothing(stores: Stores) -> None:
    account = make_account(stores, 100)
    _, key = make_key(stores, account)
    with pytest.raises(HoldRejected) as caught:
        stores.ledger.reserve(hold_for(account.account_id, key.key_hash, key.key_id, 101))
    assert caught.value.reason is RejectReason.BALANCE
    assert caught.value.account_balance == 100
    assert stores.ledger.balance(account.account_id) == 100
    assert not [h for h in stores.ledger.holds() if h.state is HoldState.OPEN]


def test_reserve_of_exact_balance_leaves_zero(stores: Stores) -> None:
    account = make_account(stores, 100)
    _, key = make_key(stores, account)
    stores.ledger.reserve(hold_for(account.account_id, key.key_hash, key.key_id, 100))
    assert stores.ledger.balance(account.account_id) == 0


def test_limited_key_is_debited_and_its_limit_enforced(stores: Stores) -> None:
    account = make_account(stores, 10_000)
    _, key = make_key(stores, account, remaining=500)
    stores.ledger.reserve(hold_for(account.account_id, key.key_hash, key.key_id, 400, limited=True))
    assert stores.accounts.get_key(key.key_hash).remaining == 100  # type: ignore[union-attr]
    with pytest.raises(HoldRejected) as caught:
        stores.ledger.reserve(hold_for(account.account_id, key.key_hash, key.key_id, 200, limited=True))
    assert caught.value.reason is RejectReason.KEY_LIMIT
    assert caught.value.key_remaining == 100
    assert caught.value.available == 100
    assert stores.ledger.balance(account.account_id) == 9_600


@pytest.mark.parametrize(
    ("account_status", "key_status", "expires_in", "reason"),
    [
        (AccountStatus.DISABLED, KeyStatus.ACTIVE, None, RejectReason.ACCOUNT_DISABLED),
        (AccountStatus.ACTIVE, KeyStatus.DISABLED, None, RejectReason.KEY_DISABLED),
        (AccountStatus.ACTIVE, KeyStatus.REVOKED, None, RejectReason.KEY_REVOKED),
        (AccountStatus.ACTIVE, KeyStatus.ACTIVE, -10, RejectReason.KEY_EXPIRED),
    ],
)
def test_reserve_enforces_status_and_expiry(
    stores: Stores, account_status: AccountStatus, key_status: KeyStatus, expires_in: int | None, reason: RejectReason
) -> None:
    account = make_account(stores, 1_000)
    expires = None if expires_in is None else int(time.time()) + expires_in
    _, key = make_key(stores, account, status=key_status, expires_at=expires)
    if account_status is AccountStatus.DISABLED:
        stores.accounts.set_account_status(account.account_id, AccountStatus.DISABLED)
    with pytest.raises(HoldRejected) as caught:
        stores.ledger.reserve(hold_for(account.account_id, key.key_hash, key.key_id, 10))
    assert caught.value.reason is reason
    assert stores.ledger.balance(account.account_id) == 1_000


def test_reserve_notices_a_key_that_gained_a_limit(stores: Stores) -> None:
    account = make_account(stores, 1_000)
    _, key = make_key(stores, account, remaining=50)
    with pytest.raises(HoldRejected) as caught:  # the caller still believes the key unlimited
        stores.ledger.reserve(hold_for(account.account_id, key.key_hash, key.key_id, 10, limited=False))
    assert caught.value.reason is RejectReason.KEY_KIND_CHANGED


def test_an_unlimited_keys_reserve_on_key_rev_refuses_a_stale_copy_and_repeats_safely(stores: Stores) -> None:
    account = make_account(stores, 1_000)
    _, key = make_key(stores, account)
    _, other = make_key(stores, account)
    rev = stores.accounts.get_account(account.account_id).key_rev  # type: ignore[union-attr]
    hold = dataclasses.replace(hold_for(account.account_id, key.key_hash, key.key_id, 300), key_rev=rev)
    stores.ledger.reserve(hold)
    stores.accounts.update_key(other.key_id, KeyChanges(name="renamed"), now=now_ms())  # any key change
    assert stores.accounts.get_account(account.account_id).key_rev == rev + 1  # type: ignore[union-attr]

    stores.ledger.reserve(hold)  # a boto3 retry of the first reserve, after the rev moved: a no-op
    fresh = dataclasses.replace(hold_for(account.account_id, key.key_hash, key.key_id, 100), key_rev=rev)
    with pytest.raises(HoldRejected) as caught:  # a new reserve with the old copy: read it again
        stores.ledger.reserve(fresh)
    assert caught.value.reason is RejectReason.KEY_KIND_CHANGED
    assert stores.ledger.balance(account.account_id) == 700
    stores.ledger.reserve(dataclasses.replace(fresh, key_rev=rev + 1))
    assert stores.ledger.balance(account.account_id) == 600
    assert_audit_clean(stores, account.account_id)


def test_repeated_reserve_changes_nothing(stores: Stores) -> None:
    account = make_account(stores, 1_000)
    _, key = make_key(stores, account)
    hold = hold_for(account.account_id, key.key_hash, key.key_id, 300)
    stores.ledger.reserve(hold)
    stores.ledger.reserve(hold)
    assert stores.ledger.balance(account.account_id) == 700
    assert_audit_clean(stores, account.account_id)


def test_settle_returns_the_unused_part_and_writes_one_charge(stores: Stores) -> None:
    account = make_account(stores, 1_000)
    _, key = make_key(stores, account)
    hold = hold_for(account.account_id, key.key_hash, key.key_id, 300)
    stores.ledger.reserve(hold)
    movement = stores.ledger.settle(hold, 120, record_for(hold), now=now_ms())
    assert movement is not None and movement.charge == 120 and movement.shortfall == 0
    assert stores.ledger.balance(account.account_id) == 880
    assert_audit_clean(stores, account.account_id)  # history still pending: the marker counts
    stores.ledger.write_history(movement)
    stores.ledger.close(movement.movement_id)
    assert not [h for h in stores.ledger.holds() if h.hold_id == hold.hold_id]
    report = stores.ledger.audit(account.account_id)
    assert report.ok and report.entries_total == 880
    assert movement.record is not None
    assert movement.record.charge == 120 and movement.record.hold == 300
    assert movement.record.entry_ids == (f"{hold.hold_id}#charge",)
    assert [e.kind for e in movement.entries] == [EntryKind.CHARGE]


def test_repeated_settle_and_history_change_nothing(stores: Stores) -> None:
    account = make_account(stores, 1_000)
    _, key = make_key(stores, account)
    hold = hold_for(account.account_id, key.key_hash, key.key_id, 300)
    stores.ledger.reserve(hold)
    first = stores.ledger.settle(hold, 100, record_for(hold), now=now_ms())
    second = stores.ledger.settle(hold, 250, record_for(hold), now=now_ms())  # a late duplicate
    assert first is not None and second is not None
    assert second.charge == 100
    stores.ledger.write_history(first)
    stores.ledger.write_history(first)
    stores.ledger.close(first.movement_id)
    stores.ledger.close(first.movement_id)
    third = stores.ledger.settle(hold, 100, record_for(hold), now=now_ms())  # closed: what it left
    assert third is not None and third.charge == 100 and third.closed
    assert stores.ledger.balance(account.account_id) == 900
    report = stores.ledger.audit(account.account_id)
    assert report.ok and report.entries == 2  # the opening credit and one charge


def test_overrun_takes_only_what_the_balance_holds(stores: Stores) -> None:
    account = make_account(stores, 500)
    _, key = make_key(stores, account)
    hold = hold_for(account.account_id, key.key_hash, key.key_id, 400)
    stores.ledger.reserve(hold)
    movement = stores.ledger.settle(hold, 650, record_for(hold), now=now_ms())
    assert movement is not None
    assert movement.charge == 500 and movement.shortfall == 150
    assert stores.ledger.balance(account.account_id) == 0
    stores.ledger.write_history(movement)
    stores.ledger.close(movement.movement_id)
    assert_audit_clean(stores, account.account_id)
    assert movement.record is not None and movement.record.shortfall == 150


def test_overrun_on_a_limited_key_respects_the_key(stores: Stores) -> None:
    account = make_account(stores, 10_000)
    _, key = make_key(stores, account, remaining=450)
    hold = hold_for(account.account_id, key.key_hash, key.key_id, 400, limited=True)
    stores.ledger.reserve(hold)
    movement = stores.ledger.settle(hold, 600, record_for(hold), now=now_ms())
    assert movement is not None and movement.charge == 450 and movement.shortfall == 150
    assert stores.accounts.get_key(key.key_hash).remaining == 0  # type: ignore[union-attr]
    assert stores.ledger.balance(account.account_id) == 9_550


def test_credit_and_debit(stores: Stores) -> None:
    account = make_account(stores, 100)
    mid = movement_id()
    movement = stores.ledger.credit(account.account_id, 50, movement_id=mid, reason="topup", actor="op", now=now_ms())
    again = stores.ledger.credit(account.account_id, 50, movement_id=mid, reason="topup", actor="op", now=now_ms())
    assert again.movement_id == movement.movement_id
    assert stores.ledger.balance(account.account_id) == 150
    stores.ledger.write_history(movement)
    stores.ledger.close(mid)
    with pytest.raises(HoldRejected) as caught:
        stores.ledger.credit(
            account.account_id, -151, movement_id=movement_id(), reason="adjust", actor="op", now=now_ms()
        )
    assert caught.value.reason is RejectReason.BALANCE
    debit = stores.ledger.credit(
        account.account_id, -150, movement_id=movement_id(), reason="adjust", actor="op", now=now_ms()
    )
    assert debit.entries[0].kind is EntryKind.DEBIT
    assert stores.ledger.balance(account.account_id) == 0
    assert_audit_clean(stores, account.account_id)


def test_refusal_record_is_written_once(stores: Stores) -> None:
    account = make_account(stores, 0)
    record = UsageRecord(
        request_id=request_id(),
        created_at=now_ms(),
        account_id=account.account_id,
        key_id="key_x",
        endpoint="chat.completions",
        status=RecordStatus.REFUSED,
        http_status=402,
        error_code="insufficient_quota",
    )
    stores.ledger.put_record(record)
    stores.ledger.put_record(record.replace(http_status=500))
    # The first write stands; read back through the ledger's own view of records below (usage queries).
    assert_audit_clean(stores, account.account_id)


def test_a_settle_leaves_nothing_for_the_sweep_to_finish(stores: Stores) -> None:
    account = make_account(stores, 1_000)
    _, key = make_key(stores, account)
    hold = hold_for(account.account_id, key.key_hash, key.key_id, 300)
    stores.ledger.reserve(hold)
    movement = stores.ledger.settle(hold, 200, record_for(hold), now=now_ms() - 120_000)
    # ... and the process dies here: the settle wrote its entry and record and closed the hold at once
    assert movement is not None and movement.closed
    assert [h for h in stores.ledger.holds() if h.hold_id == hold.hold_id] == []
    assert_audit_clean(stores, account.account_id)
    report = sweep_holds(stores.ledger, now_ms=now_ms(), hold_timeout_s=960, settled_grace_s=60)
    assert report.repaired == [] and report.refunded == []
    assert stores.ledger.balance(account.account_id) == 800
    audit = stores.ledger.audit(account.account_id)
    assert audit.ok and audit.entries == 2


def test_crash_after_a_credit_is_repaired_by_the_sweep(stores: Stores) -> None:
    account = make_account(stores, 1_000)
    credit = stores.ledger.credit(
        account.account_id, 500, movement_id=movement_id(), reason="topup", actor="t", now=now_ms() - 120_000
    )
    assert not credit.closed  # ... and the process dies before write_history/close
    assert_audit_clean(stores, account.account_id)
    report = sweep_holds(stores.ledger, now_ms=now_ms(), hold_timeout_s=960, settled_grace_s=60)
    assert report.repaired == [credit.movement_id] and report.refunded == []
    assert not stores.ledger.holds()
    assert stores.ledger.balance(account.account_id) == 1_500
    audit = stores.ledger.audit(account.account_id)
    assert audit.ok and audit.entries == 2
    again = sweep_holds(stores.ledger, now_ms=now_ms(), hold_timeout_s=960, settled_grace_s=60)
    assert again.repaired == [] and stores.ledger.balance(account.account_id) == 1_500


def test_orphaned_open_hold_is_refunded_once(stores: Stores) -> None:
    account = make_account(stores, 1_000)
    _, key = make_key(stores, account)
    old = dataclasses.replace(
        hold_for(account.account_id, key.key_hash, key.key_id, 300), created_at=now_ms() - 2_000_000
    )
    stores.ledger.reserve(old)
    young = hold_for(account.account_id, key.key_hash, key.key_id, 100)
    stores.ledger.reserve(young)
    report = sweep_holds(stores.ledger, now_ms=now_ms(), hold_timeout_s=960, settled_grace_s=60)
    assert report.refunded == [old.hold_id] and report.refunded_micros == 300 and report.open_holds == 1
    assert stores.ledger.balance(account.account_id) == 900
    assert_audit_clean(stores, account.account_id)
    again = sweep_holds(stores.ledger, now_ms=now_ms(), hold_timeout_s=960, settled_grace_s=60)
    assert again.refunded == [] and stores.ledger.balance(account.account_id) == 900
