"""The pricing engine against hand-computed prices."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tollway.pricing.engine import cost_of, output_budget
from tollway.pricing.schema import LongContext, ModelPrice, TokenPrices, shipped_prices
from tollway.pricing.usage import Usage

PRICE = ModelPrice(
    tokens=TokenPrices(
        input=Decimal("2.00"), cached_input=Decimal("0.10"), cache_write=Decimal("2.50"), output=Decimal("10.00")
    ),
    max_output_tokens=128_000,
    long_context=LongContext(
        threshold_input_tokens=272_000,
        multipliers={
            "input": Decimal(2),
            "cached_input": Decimal(2),
            "cache_write": Decimal(2),
            "output": Decimal("1.5"),
        },
    ),
    service_tiers={"flex": Decimal("0.5"), "priority": Decimal(2)},
)


def test_token_classes_are_disjoint_and_priced_separately() -> None:
    usage = Usage(
        input_tokens=10_000, cached_tokens=4_000, cache_write_tokens=1_000, output_tokens=500, reasoning_tokens=300
    )
    cost = cost_of(PRICE, usage)
    # 5,000 uncached x 2 + 4,000 cached x 0.10 + 1,000 writes x 2.50 + 500 output x 10, per 1M
    expected = (5_000 * 2 + 4_000 * Decimal("0.10") + 1_000 * Decimal("2.50") + 500 * 10) / Decimal(1_000_000)
    assert cost.usd == expected
    assert cost.micros == 17_900


def test_group_ratio_and_service_tier_multiply() -> None:
    usage = Usage(input_tokens=1_000, output_tokens=1_000, service_tier="flex")
    # (1,000 x 2 + 1,000 x 10) micro-USD x 0.5 (flex) x 0.8 (group)
    assert cost_of(PRICE, usage, Decimal("0.8")).micros == 4_800


def test_long_context_reprices_the_whole_request() -> None:
    short = cost_of(PRICE, Usage(input_tokens=272_000, output_tokens=1_000))
    long = cost_of(PRICE, Usage(input_tokens=272_001, output_tokens=1_000))
    assert short.micros == 272_000 * 2 + 1_000 * 10
    assert long.micros == 272_001 * 2 * 2 + 15_000


def test_rounding_is_up_once_per_request() -> None:
    cheap = ModelPrice(tokens=TokenPrices(input=Decimal("0.10"), output=Decimal("0.40")))
    assert cost_of(cheap, Usage(input_tokens=1, output_tokens=1)).micros == 1  # 0.5 micro -> 1


def test_output_budget_hold_and_clamp_are_consistent() -> None:
    budget = output_budget(PRICE, input_bound_tokens=1_000, choices=2)
    # input bound at the dearest input class (cache write 2.50), output x 2 choices
    assert budget.hold_micros(100) == 2_500 + 2_000
    for available in (0, 2_499, 2_500, 2_519, 2_520, 4_500, 10_000):
        tokens = budget.affordable_output_tokens(available)
        if tokens >= 0:
            assert budget.hold_micros(tokens) <= available
            assert budget.hold_micros(tokens + 1) > available


@pytest.mark.parametrize("tier", ["priority", None])
def test_output_budget_uses_the_requested_tier(tier: str | None) -> None:
    budget = output_budget(PRICE, input_bound_tokens=0, requested_tier=tier)
    assert budget.hold_micros(1_000) == (20_000 if tier == "priority" else 10_000)


def test_negative_usage_is_impossible() -> None:
    with pytest.raises(ValueError, match="negative"):
        Usage(input_tokens=-1)


def test_shipped_prices_load_with_source_and_date() -> None:
    prices = shipped_prices()
    assert prices.as_of.year == 2026 and prices.source
    assert prices.models["gpt-6.2-sol"].tokens is not None
    assert prices.models["gpt-6.2-sol"].tokens.output == Decimal("10.00")
    # Every model a client can ask for an output limit on needs a maximum to bound its reservation.
    generative = {"chat.completions", "responses", "completions"}
    unbounded = [
        m for m, p in prices.models.items() if set(p.endpoints or generative) & generative and not p.max_output_tokens
    ]
    assert unbounded == []
