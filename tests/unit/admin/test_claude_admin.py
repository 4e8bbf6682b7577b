"""Operator commands for Claude: cache-write prices by TTL, and Anthropic channels."""

from __future__ import annotations

from decimal import Decimal

from tollway.admin.registry import AdminContext

from tests.unit.admin.helpers import run


def test_price_set_takes_both_cache_write_prices(admin: AdminContext) -> None:
    changed = run(admin, "price.set", model="claude-opus-5-5", cache_write_per_1m="6", cache_write_1h_per_1m="9")
    assert (changed["cache_write_per_1m"], changed["cache_write_1h_per_1m"]) == ("6", "9")
    tokens = admin.services.catalog.get().prices["claude-opus-5-5"].tokens
    assert tokens is not None and (tokens.cache_write, tokens.cache_write_1h, tokens.input) == (
        Decimal(6),
        Decimal(9),
        Decimal(4),
    )


def test_an_anthropic_channel_can_be_added(admin: AdminContext) -> None:
    added = run(
        admin,
        "channel.add",
        name="anthropic",
        type="anthropic",
        base_url="https://api.anthropic.com",
        api_key="sk-ant-x",
        models=["claude-opus-5-5"],
    )
    assert added["type"] == "anthropic" and added["has_key"] is True
