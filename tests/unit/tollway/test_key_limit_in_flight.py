"""A key's own limit stays exact while requests are in flight (issue 11 defect 5), on both stores:
rotating the secret or setting the limit must not lose or double the unused part of holds that
settle afterwards."""

from __future__ import annotations

from tollway.accounts.model import KeyChanges
from tollway.keys import display_prefix, generate_key, hash_key

from tests.support.factories import Stores, make_account, make_key, now_ms
from tests.unit.tollway.ledger.test_ledger_contract import hold_for, record_for


def _remaining(stores: Stores, key_id: str) -> int | None:
    key = stores.accounts.get_key_by_id(key_id)
    assert key is not None
    return key.remaining


def test_a_hold_in_flight_across_a_rotation_gives_its_unused_part_to_the_new_secret(stores: Stores) -> None:
    account = make_account(stores, 10_000)
    _, key = make_key(stores, account, remaining=1_000)
    hold = hold_for(account.account_id, key.key_hash, key.key_id, 300, limited=True)
    stores.ledger.reserve(hold)
    secret = generate_key()
    _, new = stores.accounts.rotate_key(key.key_id, hash_key(secret), display_prefix(secret))
    assert new.remaining == 700  # the copy is short by the hold in flight...

    stores.ledger.settle(hold, 100, record_for(hold), now=now_ms())

    assert _remaining(stores, key.key_id) == 900  # ... which gives its unused 200 back to it
    assert stores.ledger.balance(account.account_id) == 9_900


def test_a_limit_set_with_holds_in_flight_counts_them(stores: Stores) -> None:
    account = make_account(stores, 10_000)
    _, key = make_key(stores, account, remaining=1_000)
    holds = [hold_for(account.account_id, key.key_hash, key.key_id, 300, limited=True) for _ in range(2)]
    for hold in holds:
        stores.ledger.reserve(hold)

    stores.accounts.update_key(key.key_id, KeyChanges(remaining=2_000), now=now_ms())
    for hold in holds:
        stores.ledger.settle(hold, 100, record_for(hold), now=now_ms())

    assert _remaining(stores, key.key_id) == 2_000 - 200  # the limit set, less what the two cost
    assert stores.ledger.balance(account.account_id) == 9_800


def test_a_limit_set_below_what_is_in_flight_starts_at_zero_never_negative(stores: Stores) -> None:
    account = make_account(stores, 10_000)
    _, key = make_key(stores, account, remaining=1_000)
    hold = hold_for(account.account_id, key.key_hash, key.key_id, 300, limited=True)
    stores.ledger.reserve(hold)

    stores.accounts.update_key(key.key_id, KeyChanges(remaining=100), now=now_ms())

    assert _remaining(stores, key.key_id) == 0
