"""Biller.charged — what a task records as its charge when its settle returned no movement (issue 11
defect 6: a Midjourney/Suno submit outliving the hold timeout recorded its price, so a later refund
gave back money that maintenance had already refunded)."""

from __future__ import annotations

import dataclasses

from tollway.billing import Biller
from tollway.maintenance import sweep_holds
from tollway.records import RecordStatus

from tests.support.factories import Stores, make_account, make_key, now_ms
from tests.unit.tollway.ledger.test_ledger_contract import hold_for, record_for


def test_a_submit_that_outlived_its_hold_was_charged_nothing(stores: Stores) -> None:
    biller = Biller(stores.ledger)
    account = make_account(stores, 10_000)
    _, key = make_key(stores, account)
    hold = dataclasses.replace(hold_for(account.account_id, key.key_hash, key.key_id, 400), created_at=1)
    stores.ledger.reserve(hold)
    sweep_holds(stores.ledger, now_ms=now_ms(), hold_timeout_s=1, settled_grace_s=0)  # refunded, closed

    movement = biller.settle(hold, 400, record_for(hold), now_ms=now_ms())  # the submit comes back late

    # the answer is what maintenance's refund left: the orphaned record, nothing taken
    assert movement is not None and movement.closed and movement.charge == 0
    assert movement.record is not None and movement.record.status is RecordStatus.ORPHANED
    assert biller.charged(hold, movement) == 0  # not the price: a refund of it would be money never taken
    assert stores.ledger.balance(account.account_id) == 10_000


def test_a_settled_and_closed_submit_reports_its_real_charge(stores: Stores) -> None:
    biller = Biller(stores.ledger)
    account = make_account(stores, 10_000)
    _, key = make_key(stores, account)
    hold = hold_for(account.account_id, key.key_hash, key.key_id, 400)
    stores.ledger.reserve(hold)
    first = biller.settle(hold, 250, record_for(hold), now_ms=now_ms())
    assert first is not None
    biller.finish(first)

    again = biller.settle(hold, 400, record_for(hold), now_ms=now_ms())  # a repeat after the close

    # the settle's own record answers the repeat: what was taken, not the repeat's price
    assert again is not None and again.closed and again.charge == 250
    assert biller.charged(hold, again) == 250
    assert biller.charged(hold, None) == 250  # and the ledger says the same when asked directly
    assert biller.charged(hold, first) == 250
