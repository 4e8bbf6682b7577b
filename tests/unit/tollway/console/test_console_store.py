"""The console's records on both stores (memory and DynamoDB through moto): a login per address and per
account, invites and verification tokens used once, rate-limit windows, revocations — and the two
money paths it adds: redeeming without a key and the credit history."""

from __future__ import annotations

import pytest
from tollway.console.store import InviteRefused, Login, LoginExists, console_store
from tollway.ids import movement_id
from tollway.operator import operator_stores
from tollway.redeem.model import RedeemRefused, hash_code

from tests.support.factories import Stores, make_account, now_ms
from tests.unit.admin.helpers import services_of
from tests.unit.tollway.test_redeem import batch_of


def _login(email: str, account: str = "acct_one1") -> Login:
    return Login(email=email, account_id=account, password_hash="$argon2id$x", verified=True, created_at=1)


def test_an_address_and_an_account_each_get_one_login(stores: Stores) -> None:
    store = console_store(services_of(stores))
    store.create_login(_login("a@example.com"))
    with pytest.raises(LoginExists):
        store.create_login(_login("a@example.com", "acct_two2"))
    with pytest.raises(LoginExists):
        store.create_login(_login("b@example.com", "acct_one1"))
    assert store.get_login("b@example.com") is None  # the failed claim left nothing behind
    found = store.get_login("a@example.com")
    assert found is not None and found.account_id == "acct_one1" and found.verified
    assert store.email_of("acct_one1") == "a@example.com"
    store.set_password_hash("a@example.com", "$argon2id$y")
    store.set_verified("a@example.com")
    assert store.get_login("a@example.com") == Login("a@example.com", "acct_one1", "$argon2id$y", True, 1)


def test_an_invite_opens_one_sign_up(stores: Stores) -> None:
    store = console_store(services_of(stores))
    (invite,) = store.create_invites(1, now=1, created_by="test")
    with pytest.raises(InviteRefused):
        store.create_login(_login("x@example.com", "acct_x0001"), invite="inv-nope")
    assert store.get_login("x@example.com") is None
    store.create_login(_login("y@example.com", "acct_y0001"), invite=invite)
    with pytest.raises(InviteRefused):
        store.create_login(_login("z@example.com", "acct_z0001"), invite=invite)
    assert store.get_login("z@example.com") is None


def test_verification_tokens_work_once_and_expire(stores: Stores) -> None:
    store = console_store(services_of(stores))
    token = store.new_verification("v@example.com", expires_s=1_000)
    assert store.take_verification("vfy-unknown", 10) is None
    assert store.take_verification(token, 10) == "v@example.com"
    assert store.take_verification(token, 10) is None
    late = store.new_verification("v@example.com", expires_s=1_000)
    assert store.take_verification(late, 1_000) is None


def test_rate_limit_windows_count_up_to_their_limit(stores: Stores) -> None:
    store = console_store(services_of(stores))
    answers = [store.allow("signin-email", "a@example.com", limit=3, window_s=60, now_s=120) for _ in range(4)]
    assert answers == [True, True, True, False]
    assert store.allow("signin-email", "b@example.com", limit=3, window_s=60, now_s=120)  # another address
    assert store.allow("signin-email", "a@example.com", limit=3, window_s=60, now_s=180)  # the next window


def test_revoked_sessions_stay_revoked(stores: Stores) -> None:
    store = console_store(services_of(stores))
    assert not store.is_revoked("s1")
    store.revoke_session("s1", 2_000_000_000)
    assert store.is_revoked("s1") and not store.is_revoked("s2")


def test_the_console_redeems_without_a_key_exactly_once(stores: Stores) -> None:
    svc = services_of(stores)
    account = make_account(stores, 100)
    codes = operator_stores(svc).codes
    (code,) = batch_of(codes, 2_000_000, 1)
    # A second after the opening credit: ids order by millisecond, and within one millisecond at random.
    now = now_ms() + 1_000
    done = codes.redeem(
        hash_code(code),
        account_id=account.account_id,
        key_hash=None,
        key_id=None,
        movement_id=movement_id(now),
        now=now,
    )
    svc.biller.finish(done.movement)
    assert done.movement.entries[0].actor == f"console:{account.account_id}"
    assert stores.ledger.balance(account.account_id) == 2_000_100
    with pytest.raises(RedeemRefused) as again:
        codes.redeem(
            hash_code(code),
            account_id=account.account_id,
            key_hash=None,
            key_id=None,
            movement_id=movement_id(),
            now=now,
        )
    assert again.value.reason == "used"
    credits = stores.ledger.credits(account.account_id, limit=10, max_read=100)
    assert [c.amount for c in credits] == [2_000_000, 100]  # newest first, the opening credit last
    assert stores.ledger.audit(account.account_id).ok
