"""account.* and key.* on both stores: sign-up credit, paging, adjustments as ledger entries, groups,
disable/enable, key updates, revoke, rotate — and that none of them hands out a secret twice."""

from __future__ import annotations

import json

import pytest
from tollway.admin.registry import AdminContext
from tollway.ids import request_id
from tollway.keys import hash_key
from tollway.ledger.model import HoldRejected, HoldRequest, RejectReason

from tests.support.factories import Stores, now_ms
from tests.unit.admin.helpers import fail, run


def test_create_uses_the_sign_up_credit_and_refuses_unknown_groups(admin: AdminContext, stores: Stores) -> None:
    created = run(admin, "account.create", name="A")
    assert created["balance"] == 200_000 and created["balance_usd"] == "0.20"  # the configurable default
    assert fail(admin, "account.create", name="B", group="platinum")["code"] == "not_found"
    run(admin, "group.set", name="platinum", ratio="0.9")
    assert run(admin, "account.create", name="B", group="platinum")["group"] == "platinum"
    report = stores.ledger.audit(created["account_id"])
    assert report.ok and report.entries == 1


def test_list_pages_and_filters(admin: AdminContext) -> None:
    run(admin, "group.set", name="vip", ratio="0.8")
    ids = {
        run(admin, "account.create", name=f"n{i}", group="vip" if i % 2 else "default")["account_id"] for i in range(5)
    }
    seen: list[str] = []
    cursor = None
    while True:
        args = {"limit": 2} if cursor is None else {"limit": 2, "cursor": cursor}
        page = run(admin, "account.list", **args)
        assert len(page["accounts"]) <= 2
        seen += [a["account_id"] for a in page["accounts"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)
    vip = run(admin, "account.list", group="vip", limit=100)["accounts"]
    assert len(vip) == 2 and all(a["group"] == "vip" for a in vip)
    assert fail(admin, "account.list", cursor="not-a-cursor")["code"] == "invalid_args"


def test_credit_and_debit_are_ledger_entries_and_never_go_below_zero(admin: AdminContext, stores: Stores) -> None:
    account = run(admin, "account.create", name="A", credit_usd="1.00")["account_id"]
    credited = run(admin, "account.credit", account_id=account, amount_usd="2.50", reason="wire 42")
    assert credited["balance"] == 3_500_000 and credited["kind"] == "credit"
    debited = run(admin, "account.debit", account_id=account, amount_usd="0.50", reason="refund of a refund")
    assert debited["balance"] == 3_000_000 and debited["kind"] == "debit"
    too_much = fail(admin, "account.debit", account_id=account, amount_usd="3.01", reason="x")
    assert too_much["code"] == "insufficient_balance"
    report = stores.ledger.audit(account)
    assert report.ok and report.entries == 3 and report.balance == 3_000_000


def test_a_disabled_account_cannot_reserve_and_enable_restores_it(admin: AdminContext, stores: Stores) -> None:
    account = run(admin, "account.create", name="A", credit_usd="1.00")["account_id"]
    key = run(admin, "key.create", account_id=account)
    assert run(admin, "account.disable", account_id=account)["status"] == "disabled"
    hold = HoldRequest(request_id(), account, hash_key(key["key"]), key["key_id"], False, 100, now_ms())
    with pytest.raises(HoldRejected) as caught:
        stores.ledger.reserve(hold)
    assert caught.value.reason is RejectReason.ACCOUNT_DISABLED
    run(admin, "account.enable", account_id=account)
    stores.ledger.reserve(hold)


def test_set_group_changes_price_group(admin: AdminContext) -> None:
    account = run(admin, "account.create", name="A")["account_id"]
    assert fail(admin, "account.set-group", account_id=account, group="vip")["code"] == "not_found"
    run(admin, "group.set", name="vip", ratio="0.8")
    assert run(admin, "account.set-group", account_id=account, group="vip")["group"] == "vip"
    assert fail(admin, "account.set-group", account_id="acct_nobody", group="vip")["code"] == "not_found"


def test_key_create_with_guards_list_update_and_prefixes_only(admin: AdminContext) -> None:
    account = run(admin, "account.create", name="A")["account_id"]
    key = run(
        admin,
        "key.create",
        account_id=account,
        limit_usd="0.50",
        models=["a", "b"],
        daily_cap_usd="0.10",
        rpm=30,
        concurrency=2,
    )
    assert key["guards"] == {"daily_cap_usd": "0.10", "monthly_cap_usd": None, "rpm": 30, "concurrency": 2}
    listed = run(admin, "key.list", account_id=account)
    assert key["key"] not in json.dumps(listed) and listed["keys"][0]["prefix"] == key["prefix"]
    updated = run(
        admin, "key.update", key_id=key["key_id"], limit_usd="unlimited", models=["*"], rpm=0, daily_cap_usd="off"
    )
    assert updated["remaining"] is None and updated["models"] is None
    assert updated["guards"] == {"daily_cap_usd": None, "monthly_cap_usd": None, "rpm": None, "concurrency": 2}
    assert key["key"] not in json.dumps(updated)
    bad = fail(admin, "key.update", key_id=key["key_id"], daily_cap_usd="0", cidrs=["300.1.1.1/8"])
    assert bad["code"] == "invalid_args" and {d["field"] for d in bad["details"]} == {"daily_cap_usd", "cidrs"}


def test_revoke_is_final_and_rotate_gives_a_new_secret(admin: AdminContext, stores: Stores) -> None:
    account = run(admin, "account.create", name="A")["account_id"]
    key = run(admin, "key.create", account_id=account, limit_usd="0.50")
    rotated = run(admin, "key.rotate", key_id=key["key_id"])
    assert rotated["key"] != key["key"] and rotated["key_id"] == key["key_id"]
    assert rotated["previous_prefix"] == key["prefix"] and rotated["remaining"] == 500_000
    assert stores.accounts.get_key(hash_key(key["key"])) is None
    assert stores.accounts.get_key(hash_key(rotated["key"])) is not None
    run(admin, "key.revoke", key_id=key["key_id"])
    assert fail(admin, "key.enable", key_id=key["key_id"])["code"] == "conflict"
    assert fail(admin, "key.rotate", key_id=key["key_id"])["code"] == "conflict"
