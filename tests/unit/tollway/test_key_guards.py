"""Per-key guards (spend caps, requests per minute, concurrency) on both stores: enforced in the reserve's
own conditional write, periods rolled over by a second attempt, leases released exactly once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tollway.accounts.model import KEEP, Account, ApiKey, KeyChanges, KeyGuards, KeyStatus
from tollway.guards import day_period, guard_use, minute_window
from tollway.ids import key_id, request_id
from tollway.keys import display_prefix, generate_key, hash_key
from tollway.ledger.model import GuardUse, HoldRejected, HoldRequest, HoldState, RejectReason
from tollway.maintenance import sweep_holds
from tollway.records import RecordStatus, UsageRecord

from tests.support.factories import Stores, make_account

DAY1 = int(datetime(2026, 11, 27, 23, 59, 30, tzinfo=UTC).timestamp() * 1000)
DAY2 = int(datetime(2026, 11, 28, 0, 0, 30, tzinfo=UTC).timestamp() * 1000)
NEXT_MONTH = int(datetime(2026, 12, 1, 0, 0, 30, tzinfo=UTC).timestamp() * 1000)


def guarded_key(stores: Stores, account: Account, **guards: int | None) -> ApiKey:
    secret = generate_key()
    key = ApiKey(
        key_hash=hash_key(secret),
        key_id=key_id(),
        account_id=account.account_id,
        name="guarded",
        prefix=display_prefix(secret),
        status=KeyStatus.ACTIVE,
        created_at=DAY1,
        guards=KeyGuards(rev=1, **guards) if guards else None,  # type: ignore[arg-type]
    )
    stores.accounts.create_key(key)
    return key


_CACHED = GuardUse(rev=-99)


def reserve(stores: Stores, key: ApiKey, amount: int, now_ms: int, *, guards: GuardUse | None = _CACHED) -> HoldRequest:
    """Reserve as the Biller does with ``key`` as this process cached it: its guards, counted at ``now_ms``."""
    request = HoldRequest(
        hold_id=request_id(now_ms),
        account_id=key.account_id,
        key_hash=key.key_hash,
        key_id=key.key_id,
        key_limited=key.limited,
        amount=amount,
        created_at=now_ms,
        endpoint="chat.completions",
        model="m",
        guards=guard_use(key.guards, now_ms) if guards is _CACHED else guards,
    )
    return stores.ledger.reserve(request)


def settle(stores: Stores, hold: HoldRequest, cost: int, now_ms: int) -> None:
    record = UsageRecord(
        request_id=hold.hold_id,
        created_at=hold.created_at,
        account_id=hold.account_id,
        key_id=hold.key_id,
        endpoint="chat.completions",
        status=RecordStatus.OK,
        http_status=200,
    )
    movement = stores.ledger.settle(hold, cost, record, now=now_ms)
    assert movement is not None
    stores.ledger.write_history(movement)
    stores.ledger.close(movement.movement_id)


def state(stores: Stores, key: ApiKey) -> dict[str, object]:
    fresh = stores.accounts.get_key(key.key_hash)
    assert fresh is not None
    return fresh.guard_state.to_json()


def rejected(stores: Stores, key: ApiKey, amount: int, now_ms: int) -> HoldRejected:
    with pytest.raises(HoldRejected) as caught:
        reserve(stores, key, amount, now_ms)
    return caught.value


def audit_clean(stores: Stores, account: Account) -> None:
    report = stores.ledger.audit(account.account_id)
    assert report.ok, report.to_json()


def test_a_key_without_guards_stores_no_guard_state(stores: Stores) -> None:
    account = make_account(stores, 10_000)
    key = guarded_key(stores, account)
    hold = reserve(stores, key, 500, DAY1)
    assert hold.guards is None
    settle(stores, hold, 100, DAY1)
    assert state(stores, key) == {}
    if stores.client is not None:  # not one guard attribute on the item
        item = stores.client.get_item(TableName="KeysTable", Key={"key_hash": {"S": key.key_hash}})["Item"]  # type: ignore[attr-defined]
        assert not {"guard_rev", "day_left", "inflight", "rpm_count"} & set(item)


def test_daily_cap_refuses_what_is_left_of_the_day_even_with_money(stores: Stores) -> None:
    account = make_account(stores, 1_000_000)
    key = guarded_key(stores, account, daily_cap=1_000)
    first = reserve(stores, key, 600, DAY1)
    assert first.guards is not None and first.guards.day == "2026-11-27"
    refusal = rejected(stores, key, 500, DAY1)
    assert refusal.reason is RejectReason.DAILY_CAP
    assert refusal.day_left == 400 and refusal.available == 400
    settle(stores, first, 100, DAY1)  # the unused 500 of the hold goes back to today's cap
    assert state(stores, key)["day_left"] == 900
    reserve(stores, key, 900, DAY1)
    assert rejected(stores, key, 1, DAY1).reason is RejectReason.DAILY_CAP
    assert stores.ledger.balance(account.account_id) == 1_000_000 - 100 - 900


def test_a_new_day_starts_a_new_cap_and_settle_does_not_refund_into_it(stores: Stores) -> None:
    account = make_account(stores, 1_000_000)
    key = guarded_key(stores, account, daily_cap=1_000)
    late = reserve(stores, key, 900, DAY1)  # reserved just before midnight
    tomorrow = reserve(stores, key, 800, DAY2)  # the stored day is older: the second attempt rolls it
    assert tomorrow.guards is not None and tomorrow.guards.day == "2026-11-28"
    assert state(stores, key)["day_left"] == 200 and state(stores, key)["day_period"] == "2026-11-28"
    settle(stores, late, 0, DAY2)  # yesterday's hold gives nothing back to today's cap
    assert state(stores, key)["day_left"] == 200
    settle(stores, tomorrow, 300, DAY2)
    assert state(stores, key)["day_left"] == 700
    audit_clean(stores, account)


def test_a_process_whose_clock_is_behind_counts_in_the_newer_day(stores: Stores) -> None:
    account = make_account(stores, 1_000_000)
    key = guarded_key(stores, account, daily_cap=1_000)
    reserve(stores, key, 700, DAY2)
    behind = reserve(stores, key, 200, DAY1)  # this process still thinks it is yesterday
    assert behind.guards is not None and behind.guards.day == "2026-11-28"  # never rolled back
    assert state(stores, key)["day_left"] == 100
    assert rejected(stores, key, 200, DAY1).reason is RejectReason.DAILY_CAP


def test_monthly_cap_and_its_rollover(stores: Stores) -> None:
    account = make_account(stores, 1_000_000)
    key = guarded_key(stores, account, monthly_cap=5_000, daily_cap=4_000)
    reserve(stores, key, 3_000, DAY2)
    reserve(stores, key, 1_000, DAY2 + 86_400_000)  # the next day: daily cap rolls, monthly does not
    refusal = rejected(stores, key, 1_500, DAY2 + 86_400_000)
    assert refusal.reason is RejectReason.MONTHLY_CAP and refusal.month_left == 1_000
    next_month = reserve(stores, key, 1_500, NEXT_MONTH)
    assert next_month.guards is not None and next_month.guards.month == "2026-12"
    assert state(stores, key)["month_left"] == 3_500


def test_requests_per_minute(stores: Stores) -> None:
    account = make_account(stores, 1_000_000)
    key = guarded_key(stores, account, rpm=2)
    minute = (DAY2 // 60_000) * 60_000
    reserve(stores, key, 10, minute + 1_000)
    reserve(stores, key, 10, minute + 2_000)
    refusal = rejected(stores, key, 10, minute + 45_500)
    assert refusal.reason is RejectReason.RATE_LIMIT and refusal.retry_after_s == 15
    assert stores.ledger.balance(account.account_id) == 1_000_000 - 20  # the refused one took nothing
    reserve(stores, key, 10, minute + 60_000)  # a new window
    assert state(stores, key)["rpm_window"] == minute_window(minute + 60_000)
    assert state(stores, key)["rpm_count"] == 1


def test_concurrency_lease_is_taken_and_released_at_settle(stores: Stores) -> None:
    account = make_account(stores, 1_000_000)
    key = guarded_key(stores, account, concurrency=1)
    first = reserve(stores, key, 100, DAY2)
    assert first.guards is not None and first.guards.lease
    refusal = rejected(stores, key, 100, DAY2)
    assert refusal.reason is RejectReason.CONCURRENCY and refusal.retry_after_s == 1
    settle(stores, first, 0, DAY2)  # an upstream error settles at 0: the lease goes back too
    assert state(stores, key)["inflight"] == 0
    second = reserve(stores, key, 100, DAY2)
    settle(stores, second, 50, DAY2)
    record = UsageRecord(second.hold_id, DAY2, account.account_id, key.key_id, "chat.completions", RecordStatus.OK, 200)
    again = stores.ledger.settle(second, 50, record, now=DAY2)  # a repeat (closed): releases nothing more
    assert again is not None and again.closed and again.charge == 50
    assert state(stores, key)["inflight"] == 0
    audit_clean(stores, account)


def test_maintenance_releases_the_lease_of_an_orphaned_hold(stores: Stores) -> None:
    account = make_account(stores, 1_000_000)
    key = guarded_key(stores, account, concurrency=1, daily_cap=10_000)
    now = int(datetime.now(tz=UTC).timestamp() * 1000)
    crashed = reserve(stores, key, 700, now - 2_000_000)  # its process died; nothing settled it
    assert state(stores, key)["inflight"] == 1
    report = sweep_holds(stores.ledger, now_ms=now, hold_timeout_s=960, settled_grace_s=60)
    assert report.refunded == [crashed.hold_id]
    assert state(stores, key)["inflight"] == 0
    assert stores.ledger.balance(account.account_id) == 1_000_000
    assert not [h for h in stores.ledger.holds() if h.state is HoldState.OPEN]
    audit_clean(stores, account)


def test_guards_added_after_the_key_was_cached_are_enforced(stores: Stores) -> None:
    account = make_account(stores, 1_000_000)
    key = guarded_key(stores, account)
    changed = stores.accounts.update_key(key.key_id, KeyChanges(daily_cap=100), now=DAY1)
    assert changed.guards is not None and changed.guards.daily_cap == 100
    with pytest.raises(HoldRejected) as caught:  # a process still holding the unguarded copy
        reserve(stores, key, 10, DAY1)
    assert caught.value.reason is RejectReason.KEY_KIND_CHANGED
    with pytest.raises(HoldRejected) as stale:  # ... or an older revision of the guards
        reserve(stores, key, 10, DAY1, guards=GuardUse(rev=changed.guards.rev - 1, day=day_period(DAY1)))
    assert stale.value.reason is RejectReason.KEY_KIND_CHANGED
    assert stores.ledger.balance(account.account_id) == 1_000_000


def test_changing_a_cap_mid_day_keeps_what_was_spent(stores: Stores) -> None:
    account = make_account(stores, 1_000_000)
    key = guarded_key(stores, account, daily_cap=1_000, rpm=100)
    hold = reserve(stores, key, 600, DAY1)
    settle(stores, hold, 600, DAY1)
    raised = stores.accounts.update_key(key.key_id, KeyChanges(daily_cap=1_500), now=DAY1)
    assert raised.guard_state.day_left == 900
    assert rejected(stores, key, 10, DAY1).reason is RejectReason.KEY_KIND_CHANGED  # the old copy: reload
    assert rejected(stores, raised, 901, DAY1).reason is RejectReason.DAILY_CAP
    off = stores.accounts.update_key(key.key_id, KeyChanges(daily_cap=None, rpm=None), now=DAY1 + 1)
    assert off.guards is None and off.guard_state.to_json() == {}
    reserve(stores, off, 5_000, DAY1)  # no guards left: only the balance counts


def test_rotation_keeps_the_counters_and_a_hold_of_the_old_secret_still_settles(stores: Stores) -> None:
    account = make_account(stores, 1_000_000)
    key = guarded_key(stores, account, daily_cap=1_000, concurrency=2)
    key = stores.accounts.update_key(key.key_id, KeyChanges(remaining=5_000), now=DAY1)
    in_flight = reserve(stores, key, 400, DAY1)
    new_secret = generate_key()
    old, new = stores.accounts.rotate_key(key.key_id, hash_key(new_secret), display_prefix(new_secret))
    assert old.key_hash == key.key_hash and new.key_id == key.key_id
    assert new.remaining == 4_600 and new.guard_state.day_left == 600 and new.guard_state.inflight is None
    assert stores.accounts.get_key(key.key_hash) is None
    assert rejected(stores, key, 10, DAY1).reason is RejectReason.KEY_MISSING  # the old secret is dead
    settle(stores, in_flight, 100, DAY1)  # its key item is gone: the account alone is settled
    assert stores.ledger.balance(account.account_id) == 1_000_000 - 100
    again = reserve(stores, new, 100, DAY1)
    assert again.guards is not None and again.guards.lease
    audit_clean(stores, account)


def test_an_overrun_is_taken_from_the_balance_and_counts_against_the_cap(stores: Stores) -> None:
    account = make_account(stores, 1_000_000)
    key = guarded_key(stores, account, daily_cap=1_000)
    hold = reserve(stores, key, 500, DAY1)
    settle(stores, hold, 1_200, DAY1)  # the upstream billed more than the worst case
    assert stores.ledger.balance(account.account_id) == 1_000_000 - 1_200
    assert state(stores, key)["day_left"] == -200  # the counter shows the cap is spent; money never < 0
    assert rejected(stores, key, 1, DAY1).reason is RejectReason.DAILY_CAP
    audit_clean(stores, account)


def test_every_key_change_leaves_others_alone(stores: Stores) -> None:
    account = make_account(stores, 1_000)
    key = guarded_key(stores, account)
    updated = stores.accounts.update_key(
        key.key_id, KeyChanges(name="renamed", models=("a", "b"), expires_at=KEEP), now=DAY1
    )
    assert (updated.name, updated.models, updated.guards) == ("renamed", ("a", "b"), None)
    cleared = stores.accounts.update_key(key.key_id, KeyChanges(models=None, remaining=300), now=DAY1)
    assert cleared.models is None and cleared.remaining == 300 and cleared.name == "renamed"
