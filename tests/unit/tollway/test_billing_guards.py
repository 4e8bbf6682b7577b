"""What a customer sees when a key guard refuses: the Biller's errors (402 naming the cap, 429 with
Retry-After), the clamp under a cap, and a reload when the cached key's guards are out of date."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tollway.accounts.model import ApiKey, KeyChanges, KeyGuards, KeyStatus
from tollway.auth import KeyContext
from tollway.billing import Biller, StaleKey
from tollway.errors import InsufficientQuota, RateLimited
from tollway.ids import key_id, request_id
from tollway.keys import display_prefix, generate_key, hash_key
from tollway.pricing.engine import OutputBudget

from tests.support.factories import Stores, make_account, now_ms

# 1 micro-USD per output token, nothing fixed: a hold of n output tokens is n micros.
BUDGET = OutputBudget(fixed_usd=Decimal(0), per_output_token_usd=Decimal("0.000001"))


def context_with(stores: Stores, **guards: int) -> KeyContext:
    account = make_account(stores, 1_000_000)
    secret = generate_key()
    key = ApiKey(
        key_hash=hash_key(secret),
        key_id=key_id(),
        account_id=account.account_id,
        name="k",
        prefix=display_prefix(secret),
        status=KeyStatus.ACTIVE,
        created_at=now_ms(),
        guards=KeyGuards(rev=1, **guards),  # type: ignore[arg-type]
    )
    stores.accounts.create_key(key)
    return KeyContext(key=key, account=account)


def reserve(stores: Stores, context: KeyContext, limit: int, minimal: int = 16) -> int | None:
    reservation = Biller(stores.ledger).reserve(
        context, hold_id=request_id(), budget=BUDGET, output_limit=limit, min_output=minimal, now_ms=now_ms()
    )
    return reservation.output_limit


def test_a_daily_cap_clamps_the_output_then_refuses_with_402_naming_the_cap(stores: Stores) -> None:
    context = context_with(stores, daily_cap=1_000)
    assert reserve(stores, context, 600) == 600
    assert reserve(stores, context, 600) == 400  # clamped to what is left of today's cap
    with pytest.raises(InsufficientQuota) as caught:
        reserve(stores, context, 600)
    assert caught.value.status == 402
    assert "daily spend cap of $0.001" in caught.value.message and "$0.00 left today" in caught.value.message
    assert stores.ledger.balance(context.account.account_id) == 1_000_000 - 1_000  # the account had money


def test_a_monthly_cap_is_named_too(stores: Stores) -> None:
    context = context_with(stores, monthly_cap=100)
    with pytest.raises(InsufficientQuota) as caught:
        reserve(stores, context, 600, minimal=200)
    assert "monthly spend cap of $0.0001" in caught.value.message


def test_request_rate_and_concurrency_answer_429_with_retry_after(stores: Stores) -> None:
    rate = context_with(stores, rpm=1)
    reserve(stores, rate, 10)
    with pytest.raises(RateLimited) as limited:
        reserve(stores, rate, 10)
    assert limited.value.status == 429 and 1 <= int(limited.value.retry_after or 0) <= 60
    busy = context_with(stores, concurrency=1)
    reserve(stores, busy, 10)
    with pytest.raises(RateLimited) as full:
        reserve(stores, busy, 10)
    assert full.value.retry_after == "1" and "concurrency" in full.value.message


def test_a_cached_key_whose_guards_changed_is_reloaded(stores: Stores) -> None:
    context = context_with(stores, rpm=100)
    stores.accounts.update_key(context.key.key_id, KeyChanges(rpm=None, daily_cap=50), now=now_ms())
    with pytest.raises(StaleKey):
        reserve(stores, context, 10)
    fresh = stores.accounts.get_key(context.key.key_hash)
    assert fresh is not None
    with pytest.raises(InsufficientQuota):  # the reloaded key's new cap applies at once
        reserve(stores, KeyContext(key=fresh, account=context.account), 100, minimal=60)
