"""tollway.reserve.reserve_fresh — the one reserve every relay route uses: a cached key that is no longer
current (its limit or guards changed; for an unlimited key, any key of its account changed) is read
again with its account, once, and the reserve runs under what the store now says."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

import pytest
from tollway.accounts.model import ApiKey, KeyChanges, KeyStatus
from tollway.auth import KeyContext
from tollway.errors import AuthenticationFailed, InsufficientQuota, PermissionDenied, StoreUnavailable
from tollway.ids import request_id
from tollway.keys import display_prefix, generate_key, hash_key
from tollway.pricing.engine import OutputBudget
from tollway.reserve import reserve_fresh

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


def _disable(stores: Stores, key: ApiKey) -> None:
    stores.accounts.set_key_status(key.key_id, KeyStatus.DISABLED)


def _revoke(stores: Stores, key: ApiKey) -> None:
    stores.accounts.set_key_status(key.key_id, KeyStatus.REVOKED)


def _rotate(stores: Stores, key: ApiKey) -> None:
    secret = generate_key()
    stores.accounts.rotate_key(key.key_id, hash_key(secret), display_prefix(secret))


def _expire(stores: Stores, key: ApiKey) -> None:
    stores.accounts.update_key(key.key_id, KeyChanges(expires_at=int(time.time()) - 1), now=now_ms())


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (_disable, PermissionDenied),
        (_revoke, AuthenticationFailed),
        (_rotate, AuthenticationFailed),
        (_expire, PermissionDenied),
    ],
    ids=["disabled", "revoked", "rotated", "expired"],
)
def test_an_unlimited_key_changed_after_it_was_cached_is_refused_and_nothing_is_held(
    stores: Stores, change: Callable[[Stores, ApiKey], None], error: type[Exception]
) -> None:
    # An unlimited key without guards: the reserve does not touch the key item on DynamoDB, so the
    # account's key_rev (moved by every key change) is what catches the stale copy.
    account = make_account(stores, 1_000_000)
    _, key = make_key(stores, account)
    cached = KeyContext(key=key, account=stores.accounts.get_account(account.account_id) or account)
    change(stores, key)

    with pytest.raises(error):
        reserve(stores, cached, 600)

    assert stores.ledger.balance(account.account_id) == 1_000_000
    assert [h for h in stores.ledger.holds() if h.account_id == account.account_id] == []


def test_a_change_to_another_key_of_the_account_costs_one_reload_not_a_refusal(stores: Stores) -> None:
    account = make_account(stores, 1_000_000)
    _, key = make_key(stores, account)
    _, other = make_key(stores, account)
    cached = KeyContext(key=key, account=stores.accounts.get_account(account.account_id) or account)
    stores.accounts.set_key_status(other.key_id, KeyStatus.DISABLED)

    limit, used = reserve(stores, cached, 600)

    assert limit == 600
    assert used.account.key_rev == cached.account.key_rev + 1  # the pair was read again
    assert stores.ledger.balance(account.account_id) == 1_000_000 - 600  # held once


class _Churn:
    """An account store whose every read of a key is followed by another key change of its account (an
    operator script renaming keys while traffic flows), ``times`` times; with ``own_limit`` the change
    is to the read key's own limit (set, removed, set...), which no reserve can skip."""

    def __init__(self, stores: Stores, other: ApiKey, times: int, *, own_limit: bool = False) -> None:
        self._stores, self._other, self.left, self._own = stores, other, times, own_limit

    def __getattr__(self, name: str) -> object:
        attr = getattr(self._stores.accounts, name)
        if name not in ("get_key", "get_account"):
            return attr

        def read(*args: object) -> object:
            found = attr(*args)
            if name == "get_key" and self.left > 0:
                self.left -= 1
                changes = KeyChanges(remaining=None if self.left % 2 else 10**9) if self._own else KeyChanges(name="n")
                self._stores.accounts.update_key(self._other.key_id, changes, now=now_ms())
            return found

        return read


@pytest.mark.parametrize("changes", [2, 5, 100])
def test_keys_changing_again_between_rereads_still_reserve_once(stores: Stores, changes: int) -> None:
    # Issue 11 defect 1: a second StaleKey escaped as a 500; now the reserve rereads until it is decided.
    account = make_account(stores, 1_000_000)
    _, key = make_key(stores, account)
    _, other = make_key(stores, account)
    cached = KeyContext(key=key, account=stores.accounts.get_account(account.account_id) or account)
    stores.accounts.update_key(other.key_id, KeyChanges(name="first"), now=now_ms())
    svc = services_of(stores)
    svc.accounts = _Churn(stores, other, changes)  # type: ignore[assignment]

    reservation, used = reserve_fresh(
        svc,
        cached,
        hold_id=request_id(),
        budget=BUDGET,
        output_limit=600,
        min_output=16,
        now_ms=now_ms(),
        endpoint="chat.completions",
        model="m",
    )

    assert reservation.output_limit == 600 and used.account.key_rev > cached.account.key_rev
    assert stores.ledger.balance(account.account_id) == 1_000_000 - 600  # held exactly once


def test_keys_that_never_stop_changing_are_a_clear_503_with_nothing_held(stores: Stores) -> None:
    account = make_account(stores, 1_000_000)
    _, key = make_key(stores, account)
    _, other = make_key(stores, account)
    cached = KeyContext(key=key, account=stores.accounts.get_account(account.account_id) or account)
    stores.accounts.update_key(other.key_id, KeyChanges(name="first"), now=now_ms())
    svc = services_of(stores)
    svc.accounts = _Churn(stores, key, 1_000, own_limit=True)  # type: ignore[assignment]

    with pytest.raises(StoreUnavailable) as refused:
        reserve_fresh(
            svc,
            cached,
            hold_id=request_id(),
            budget=BUDGET,
            output_limit=600,
            min_output=16,
            now_ms=now_ms(),
            endpoint="chat.completions",
            model="m",
        )

    assert refused.value.status_code == 503
    assert stores.ledger.balance(account.account_id) == 1_000_000
    assert [h for h in stores.ledger.holds() if h.account_id == account.account_id] == []
