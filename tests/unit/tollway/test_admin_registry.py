from __future__ import annotations

from tollway.admin.commands import load
from tollway.admin.registry import AdminContext
from tollway.services import Services

from tests.support.factories import Stores


def context(stores: Stores) -> AdminContext:
    services = Services.build(
        stores.settings,
        ledger=stores.ledger,
        accounts=stores.accounts,
        config=stores.config,
        secrets=stores.secrets,
        usage=stores.usage,
    )
    return AdminContext(services=services, actor="test")


def test_unknown_command_and_invalid_args_are_usage_errors(memory: Stores) -> None:
    registry = load()
    status, unknown = registry.answer("account.nope", {}, context(memory))
    assert unknown["error"]["code"] == "unknown_command" and status == 404
    status, invalid = registry.answer("account.create", {"name": "", "bogus": 1}, context(memory))
    assert invalid["error"]["code"] == "invalid_args" and status == 400
    fields = {p["field"] for p in invalid["error"]["details"]}
    assert {"name", "bogus"} <= fields


def test_account_create_credits_with_a_ledger_entry(stores: Stores) -> None:
    ctx = context(stores)
    result = load().dispatch("account.create", {"name": "A", "credit_usd": "1.50"}, ctx)
    assert result["ok"] and result["result"]["balance"] == 1_500_000
    audit = load().dispatch("audit.run", {"account_id": result["result"]["account_id"]}, ctx)
    assert audit["result"]["ok"] and audit["result"]["reports"][0]["entries"] == 1


def test_channel_keys_never_come_back(stores: Stores) -> None:
    ctx = context(stores)
    added = load().dispatch(
        "channel.add",
        {"name": "c", "base_url": "https://up.example/v1", "api_key": "sk-up-secret", "models": ["m"]},
        ctx,
    )
    assert added["ok"] and "sk-up-secret" not in str(added)
    assert "sk-up-secret" not in str(load().dispatch("channel.list", {}, ctx))
    assert ctx.services.channel_secrets.get(added["result"]["channel_id"]) == "sk-up-secret"
