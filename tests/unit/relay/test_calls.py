"""relay.calls.reserve_fresh — the one reserve every relay route uses: a key cached before its own
limit or guards changed is read again, once, and the reserve runs under what the store now says."""

from __future__ import annotations

from decimal import Decimal

import pytest
from relay.calls import reserve_fresh
from tollway.accounts.model import KeyChanges
from tollway.auth import KeyContext
from tollway.errors import InsufficientQuota
from tollway.ids import request_id
from tollway.pricing.engine import OutputBudget

from tests.support.factories import Stores, make_account, make_key, now_ms
from tests.unit.admin.helpers import services_of

# 1 micro-USD per output token: a hold of n output tokens is n micros.
BUDGET = OutputBudget(fixed_usd=Decimal(0), per_output_token_usd=Decimal("0.000001"))


def reserve(stores: Stores, context: KeyContext, limit: int, minimal: int = 16) -> tuple[int | None, KeyContext]:
    reservation, used = reserve_fresh(
        services_of(stores),
        context,
        hold_id=request_id(),
        budget=BUDGET,
        output_limit=limit,
        min_output=minimal,
        now_ms=now_ms(),
        endpoint="chat.completions",
        model="m",
    )
    return reservation.output_limit, used


def test_a_key_that_gained_a_limit_since_it_was_cached_is_reloaded_and_the_limit_applies(stores: Stores) -> None:
    account = make_account(stores, 1_000_000)
    _, key = make_key(stores, account)
    cached = KeyContext(key=key, account=account)
    stores.accounts.update_key(key.key_id, KeyChanges(remaining=50), now=now_ms())

    limit, used = reserve(stores, cached, 600)

    assert limit == 50  # clamped to the new limit, not the cached "unlimited"
    assert used.key.limited and used is not cached
    with pytest.raises(InsufficientQuota):
        reserve(stores, used, 600)


def test_a_current_key_is_reserved_under_as_it_is(stores: Stores) -> None:
    account = make_account(stores, 1_000_000)
    _, key = make_key(stores, account)
    context = KeyContext(key=key, account=account)

    limit, used = reserve(stores, context, 600)

    assert limit == 600 and used is context
    assert stores.ledger.balance(account.account_id) == 1_000_000 - 600
