"""Claude's prices in the engine: 1-hour cache writes at their own price, the prompt-size tier that
reprices the whole request, the worst case reserved, and the shipped Claude price entries."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tollway.pricing.engine import cost_of, output_budget
from tollway.pricing.schema import ModelPrice, shipped_prices
from tollway.pricing.usage import Usage

HAIKU = shipped_prices().models["claude-haiku-5-5"]


def price(**tier: object) -> ModelPrice:
    return ModelPrice.model_validate(
        {
            "tokens": {
                "input": "1",
                "cache_write": "1.25",
                "cache_write_1h": "2",
                "cached_input": "0.1",
                "output": "4",
            },
            **tier,
        }
    )


def test_each_cache_class_at_its_own_price() -> None:
    usage = Usage(
        input_tokens=1000, cached_tokens=400, cache_write_tokens=300, cache_write_1h_tokens=100, output_tokens=10
    )
    cost = cost_of(price(), usage)
    assert cost.lines == {
        "input": Decimal(300) / 1_000_000,
        "cached_input": Decimal(40) / 1_000_000,
        "cache_write": Decimal(250) / 1_000_000,
        "cache_write_1h": Decimal(200) / 1_000_000,
        "output": Decimal(40) / 1_000_000,
    }
    assert cost.micros == 830  # $1 per 1M tokens is 1 micro-USD per token


def test_1h_writes_fall_back_to_the_5m_price_when_a_model_has_none() -> None:
    flat = ModelPrice.model_validate({"tokens": {"input": "1", "cache_write": "3"}})
    usage = Usage(input_tokens=10**6, cache_write_tokens=10**6, cache_write_1h_tokens=10**6)
    assert cost_of(flat, usage).usd == Decimal(3)


def test_haiku_tier_reprices_the_whole_request_above_100k_prompt_tokens() -> None:
    below = Usage(input_tokens=100_000, cached_tokens=60_000, output_tokens=1000)
    above = Usage(input_tokens=100_001, cached_tokens=60_000, output_tokens=1000)
    # ≤100K: 40,000 × 0.10 + 60,000 × 0.01 + 1,000 × 0.50 per 1M
    assert cost_of(HAIKU, below).usd == Decimal("0.0051")
    # >100K (reads count toward the prompt): every class, output too, at 5×.
    assert cost_of(HAIKU, above).usd == Decimal("0.0255005")


def test_reservation_prices_the_bound_at_the_dearest_class_and_the_tier_it_could_reach() -> None:
    small = output_budget(HAIKU, input_bound_tokens=100_000)
    big = output_budget(HAIKU, input_bound_tokens=100_001)
    assert small.fixed_usd == Decimal("0.02")  # 100K × the 1-hour write price (0.20)
    assert big.fixed_usd == Decimal("100001") * Decimal("1.00") / 1_000_000  # 5× that price
    assert big.per_output_token_usd == Decimal("2.50") / 1_000_000


@pytest.mark.parametrize("model", sorted(m for m in shipped_prices().models if m.startswith("claude-")))
def test_shipped_claude_prices_are_explicit(model: str) -> None:
    entry = shipped_prices().models[model]
    tokens = entry.tokens
    assert tokens is not None and None not in (
        tokens.input,
        tokens.cache_write,
        tokens.cache_write_1h,
        tokens.cached_input,
        tokens.output,
    )
    assert tokens.cache_write == tokens.input * Decimal("1.25") and tokens.cache_write_1h == tokens.input * 2
    assert entry.endpoints == ["messages", "chat.completions"] and entry.max_output_tokens
    assert (entry.tools or {}).get("web_search") == Decimal("0.01")


def test_cache_read_prices_are_not_one_multiple() -> None:
    models = shipped_prices().models
    ratio = {
        m: models[m].tokens.cached_input / models[m].tokens.input
        for m in ("claude-fable-5-1", "claude-opus-5-5", "claude-haiku-5-5")
    }  # type: ignore[operator,union-attr]
    assert ratio == {
        "claude-fable-5-1": Decimal("0.025"),
        "claude-opus-5-5": Decimal("0.05"),
        "claude-haiku-5-5": Decimal("0.1"),
    }


def test_usage_record_keeps_the_1h_column() -> None:
    usage = Usage(input_tokens=10, cache_write_tokens=4, cache_write_1h_tokens=3)
    assert usage.tokens_dict() == {"input": 10, "cache_write": 4, "cache_write_1h": 3}
