"""Redemption codes on both stores: a code credits exactly once (the code's flip to used is part of the
crediting transaction), through the ledger, and every refusal leaves the balance alone."""

from __future__ import annotations

import threading
import time

import pytest
from tollway.accounts.model import Account, AccountStatus, ApiKey, KeyStatus
from tollway.ids import movement_id
from tollway.ledger.model import HoldState
from tollway.operator import operator_stores
from tollway.redeem.model import Batch, Code, CodeStatus, RedeemRefused, code_prefix, generate_code, hash_code
from tollway.redeem.ports import CodeStore
from tollway.services import Services

from tests.support.factories import Stores, make_account, make_key, now_ms
from tests.unit.admin.helpers import services_of


def batch_of(codes: CodeStore, value: int, count: int, **extra: object) -> list[str]:
    plain = [generate_code() for _ in range(count)]
    batch_id = f"rb_{time.monotonic_ns()}"
    batch = Batch(batch_id, "test", value, count, now_ms(), "test")
    codes.create_batch(
        batch,
        [
            Code(hash_code(p), f"rc_{n:04d}", batch_id, code_prefix(p), value, CodeStatus.UNUSED, now_ms(), **extra)  # type: ignore[arg-type]
            for n, p in enumerate(plain)
        ],
    )
    return plain


def redeem(svc: Services, code: str, account: Account, key: ApiKey) -> int:
    """Redeem as POST /api/redeem does; returns the amount credited."""
    now = now_ms()
    done = operator_stores(svc).codes.redeem(
        hash_code(code),
        account_id=account.account_id,
        key_hash=key.key_hash,
        key_id=key.key_id,
        movement_id=movement_id(now),
        now=now,
    )
    svc.biller.finish(done.movement)
    return done.code.value


def test_a_code_credits_once_through_the_ledger(stores: Stores) -> None:
    svc = services_of(stores)
    account = make_account(stores, 100)
    _, key = make_key(stores, account)
    (code,) = batch_of(operator_stores(svc).codes, 5_000_000, 1)
    assert redeem(svc, code, account, key) == 5_000_000
    assert stores.ledger.balance(account.account_id) == 5_000_100
    with pytest.raises(RedeemRefused) as again:
        redeem(svc, code, account, key)
    assert again.value.reason == "used"
    other = make_account(stores, 0)
    _, other_key = make_key(stores, other)
    with pytest.raises(RedeemRefused):
        redeem(svc, code, other, other_key)
    assert stores.ledger.balance(other.account_id) == 0
    report = stores.ledger.audit(account.account_id)
    assert report.ok and report.entries == 2  # the opening credit and the redemption
    assert not [h for h in stores.ledger.holds() if h.account_id == account.account_id]  # marker closed
    (listed,) = operator_stores(svc).codes.list_codes(_batch_of(svc), limit=10, cursor=None).codes
    assert listed.status is CodeStatus.USED and listed.used_by == account.account_id and listed.used_key == key.key_id


def _batch_of(svc: Services) -> str:
    (batch,) = operator_stores(svc).codes.list_batches()
    return batch.batch_id


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("unknown", "invalid"),
        ("disabled", "disabled"),
        ("expired", "expired"),
        ("group", "group"),
        ("account_disabled", "account_disabled"),
        ("key_disabled", "key_disabled"),
    ],
)
def test_refusals_credit_nothing(stores: Stores, setup: str, reason: str) -> None:
    svc = services_of(stores)
    codes = operator_stores(svc).codes
    account = make_account(stores, 100)
    _, key = make_key(stores, account, status=KeyStatus.DISABLED if setup == "key_disabled" else KeyStatus.ACTIVE)
    extra: dict[str, object] = {}
    if setup == "expired":
        extra["expires_at"] = int(time.time()) - 1
    if setup == "group":
        extra["group"] = "vip"
    (code,) = batch_of(codes, 1_000, 1, **extra)
    if setup == "unknown":
        code = generate_code()
    if setup == "disabled":
        assert codes.disable(_batch_of(svc), None) == 1
    if setup == "account_disabled":
        stores.accounts.set_account_status(account.account_id, AccountStatus.DISABLED)
    with pytest.raises(RedeemRefused) as refused:
        redeem(svc, code, account, key)
    assert refused.value.reason == reason
    assert stores.ledger.balance(account.account_id) == 100
    assert not [h for h in stores.ledger.holds() if h.state is HoldState.SETTLED and h.account_id == account.account_id]


def test_twenty_threads_racing_for_one_code_credit_it_once(memory: Stores) -> None:
    # The memory store's lock is the transaction; the DynamoDB store is raced over HTTP in
    # tests/integration/operator/test_redemption_race.py (moto in-process is not thread-safe).
    svc = services_of(memory)
    account = make_account(memory, 0)
    _, key = make_key(memory, account)
    (code,) = batch_of(operator_stores(svc).codes, 1_000_000, 1)
    outcomes: list[str] = []
    start = threading.Barrier(20)

    def attempt() -> None:
        start.wait()
        try:
            redeem(svc, code, account, key)
            outcomes.append("credited")
        except RedeemRefused as refused:
            outcomes.append(refused.reason)

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["credited"] + ["used"] * 19
    assert memory.ledger.balance(account.account_id) == 1_000_000
    assert memory.ledger.audit(account.account_id).ok


def test_disable_leaves_used_codes_alone_and_counts(stores: Stores) -> None:
    svc = services_of(stores)
    codes = operator_stores(svc).codes
    account = make_account(stores, 0)
    _, key = make_key(stores, account)
    plain = batch_of(codes, 10, 3)
    redeem(svc, plain[0], account, key)
    assert codes.disable(_batch_of(svc), None) == 2
    statuses = sorted(c.status.value for c in codes.list_codes(_batch_of(svc), limit=10, cursor=None).codes)
    assert statuses == ["disabled", "disabled", "used"]
