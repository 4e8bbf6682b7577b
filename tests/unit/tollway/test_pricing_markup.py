"""Model markup: a multiplier on the shipped list price, by model or pattern, combined with the group
ratio and rounded up once per request (tollway/pricing/markup.py, the catalog, price.markup-*)."""

from __future__ import annotations

from decimal import Decimal

from tollway.pricing.engine import cost_of
from tollway.pricing.markup import PRICE_FIELDS, RATE_FIELDS, Markup, apply_markup, find_markup, price_basis
from tollway.pricing.schema import ModelPrice
from tollway.pricing.usage import Usage


def _m(pattern: str, multiplier: str) -> Markup:
    return Markup(pattern=pattern, multiplier=Decimal(multiplier))


def test_every_price_field_is_either_scaled_or_left_alone() -> None:
    """A new field in the price schema must be classified here, so a markup cannot silently skip it."""
    assert set(ModelPrice.model_fields) == PRICE_FIELDS | RATE_FIELDS
    assert not PRICE_FIELDS & RATE_FIELDS


def test_the_most_specific_markup_wins() -> None:
    markups = {m.pattern: m for m in (_m("*", "1.1"), _m("gpt-4*", "2"), _m("gpt-4.1*", "3"), _m("gpt-4o", "4"))}
    assert find_markup("gpt-4o", markups) == markups["gpt-4o"]  # exact name first
    assert find_markup("gpt-4.1-mini", markups) == markups["gpt-4.1*"]
    assert find_markup("gpt-4o-mini", markups) == markups["gpt-4*"]
    assert find_markup("o3", markups) == markups["*"]
    assert find_markup("GPT-4o-mini", {"gpt-4*": markups["gpt-4*"]}) is None  # case-sensitive


def test_a_markup_scales_every_usd_amount_and_nothing_else() -> None:
    price = ModelPrice.model_validate(
        {
            "tokens": {"input": "2.00", "cached_input": "0.50", "output": "8.00"},
            "per_call": "0.01",
            "per_image": {"1024x1024/high": "0.167"},
            "tools": {"web_search": "0.025"},
            "service_tiers": {"priority": "2"},
            "long_context": {"threshold_input_tokens": 200000, "multipliers": {"input": "2"}},
            "context_window": 1000,
        }
    )
    doubled = apply_markup(price, Decimal(2))
    assert doubled.tokens is not None and doubled.tokens.input == Decimal("4.00")
    assert doubled.tokens.cached_input == Decimal("1.00") and doubled.tokens.output == Decimal("16.00")
    assert doubled.per_call == Decimal("0.02") and doubled.per_image == {"1024x1024/high": Decimal("0.334")}
    assert doubled.tools == {"web_search": Decimal("0.050")}
    assert doubled.service_tiers == price.service_tiers and doubled.long_context == price.long_context
    assert doubled.context_window == 1000
    assert apply_markup(price, Decimal(1)) is price


def test_markup_and_group_ratio_are_rounded_up_once() -> None:
    price = ModelPrice.model_validate({"tokens": {"input": "0.40", "output": "1.60"}})
    usage = Usage(input_tokens=7, output_tokens=3)
    # 7 × 0.40/1e6 + 3 × 1.60/1e6 = 0.0000076 USD; × 2 × 0.8 = 0.00001216 → 13 micro-USD, rounded up once.
    once = cost_of(apply_markup(price, Decimal(2)), usage, Decimal("0.8"))
    assert once.micros == 13
    # Rounding the marked-up charge first and then applying the ratio would give ceil(ceil(15.2) × 0.8) = 13
    # too here, so check the exact product: no rounding happened before the end.
    assert once.usd == Decimal("0.00001216")


def test_price_basis_names_only_what_differs_from_the_list_price() -> None:
    assert price_basis(Decimal(1), Decimal(1)) == {}
    assert price_basis(Decimal(2), Decimal("0.8")) == {"markup": "2", "ratio": "0.8"}
