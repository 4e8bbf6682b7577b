"""price.*, group.* and the audit trail every mutating command leaves (both stores)."""

from __future__ import annotations

import json
from decimal import Decimal

from tollway.admin.registry import AdminContext

from tests.support.factories import Stores
from tests.unit.admin.helpers import fail, run


def test_price_set_overrides_and_remove_restores_the_shipped_price(admin: AdminContext) -> None:
    shipped = run(admin, "price.list", model="gpt-5.4-mini", source="shipped")
    assert shipped, "the shipped price file prices gpt-5.4-mini"
    model = shipped[0]["model"]
    changed = run(admin, "price.set", model=model, output_per_1m="9.99")
    assert changed["source"] == "override" and changed["output_per_1m"] == "9.99"
    assert changed["input_per_1m"] == shipped[0]["input_per_1m"]  # the rest of the shipped price is kept
    catalog = admin.services.catalog.get()
    assert catalog.prices[model].tokens is not None and catalog.prices[model].tokens.output == Decimal("9.99")
    assert run(admin, "price.remove", model=model)["now"] == "shipped price"
    restored = admin.services.catalog.get().prices[model].tokens
    assert restored is not None and restored.output == Decimal(shipped[0]["output_per_1m"])
    assert fail(admin, "price.remove", model=model)["code"] == "not_found"


def test_price_set_validates_like_the_price_file(admin: AdminContext) -> None:
    bad = fail(admin, "price.set", model="new-model", price={"tokens": {"input": "-1"}})
    assert bad["code"] == "invalid_args" and "new-model.tokens.input" in bad["message"]
    assert fail(admin, "price.set", model="new-model")["code"] == "invalid_args"  # nothing to set
    per_call = run(admin, "price.set", model="new-model", per_call="0.04")
    assert per_call["per_call"] == "0.04"


def test_price_import_is_all_or_nothing_and_export_round_trips(admin: AdminContext) -> None:
    run(admin, "price.set", model="old-override", per_call="1")
    broken = {"models": {"good": {"per_call": "0.01"}, "bad": {"tokens": {"output": "lots"}}}}
    assert fail(admin, "price.import", prices=broken)["code"] == "invalid_args"
    assert [p["model"] for p in run(admin, "price.list", source="override")] == ["old-override"]
    imported = run(admin, "price.import", prices={"models": {"good": {"per_call": "0.01"}}}, replace=True)
    assert imported == {"imported": 1, "removed": ["old-override"], "overrides": 1}
    exported = run(admin, "price.export", scope="overrides")
    assert exported["models"] == {"good": {"reasoning": False, "per_call": "0.01"}}
    again = run(admin, "price.import", prices=exported)
    assert again["imported"] == 1


def test_groups_price_ratio_and_channels(admin: AdminContext) -> None:
    run(admin, "group.set", name="vip", ratio="0.8")
    run(
        admin,
        "channel.add",
        channel_id="premium",
        name="p",
        base_url="https://up.example/v1",
        models=["m"],
        groups=["vip"],
    )
    groups = {g["name"]: g for g in run(admin, "group.list")}
    assert groups["vip"]["ratio"] == "0.8" and groups["vip"]["channels"] == ["premium"]
    assert groups["default"]["ratio"] == "1" and groups["default"]["channels"] == []
    assert admin.services.catalog.get().group_ratio("vip") == Decimal("0.8")
    assert fail(admin, "group.set", name="vip", ratio="0")["code"] == "invalid_args"
    assert fail(admin, "group.remove", name="default")["code"] == "conflict"
    removed = run(admin, "group.remove", name="vip")
    assert removed["channels_still_listing_it"] == ["premium"]
    assert admin.services.catalog.get().group_ratio("vip") == Decimal(1)


def test_every_mutating_command_leaves_a_trail_entry_with_secrets_redacted(admin: AdminContext, stores: Stores) -> None:
    run(
        admin,
        "channel.add",
        channel_id="up",
        name="up",
        base_url="https://up.example/v1",
        api_key="sk-very-secret",
        models=["m"],
    )
    account = run(admin, "account.create", name="A")["account_id"]
    fail(admin, "account.debit", account_id=account, amount_usd="5.00", reason="too much")
    fail(admin, "key.create", account_id=account, limit_usd="lots")  # invalid arguments are recorded too
    run(admin, "account.get", account_id=account)  # read-only: no entry
    run(admin, "usage.query", account_id=account)
    entries = run(admin, "trail.query")["entries"]
    assert [e["command"] for e in entries] == ["key.create", "account.debit", "account.create", "channel.add"]
    assert all(e["actor"] == "local" for e in entries)
    outcomes = {e["command"]: e["outcome"] for e in entries}
    assert outcomes == {
        "key.create": "invalid_args",
        "account.debit": "insufficient_balance",
        "account.create": "ok",
        "channel.add": "ok",
    }
    assert "sk-very-secret" not in json.dumps(entries)
    added = entries[-1]["args"]
    assert added["api_key"] in ("**********", "[redacted]") and added["base_url"] == "https://up.example/v1"
    only_accounts = run(admin, "trail.query", command_name="account")["entries"]
    assert [e["command"] for e in only_accounts] == ["account.debit", "account.create"]
    assert [e["command"] for e in run(admin, "trail.query", outcome="error")["entries"]] == [
        "key.create",
        "account.debit",
    ]
    first = run(admin, "trail.query", limit=3)
    rest = run(admin, "trail.query", limit=3, cursor=first["next_cursor"])
    assert [e["entry_id"] for e in first["entries"] + rest["entries"]] == [e["entry_id"] for e in entries]
    assert rest["next_cursor"] is None
