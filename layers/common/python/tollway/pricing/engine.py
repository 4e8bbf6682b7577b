"""The pure pricing engine: the cost of metered usage, and the output budget a balance can pay for.

Cost of one request, in USD, exactly (``Decimal``)::

    tokens = Σ_class tokens[class] × price[class] / 1e6          (classes disjoint, see below)
             × long-context multiplier[class] if input_tokens > threshold
             × service-tier multiplier (the tier the response reports, else the one requested)
    cost   = (tokens + per_call + per_image × images + per_minute × seconds / 60
              + per_million_characters × characters / 1e6 + Σ tool fee × calls) × group ratio

then rounded up once to whole micro-USD. Token classes are made disjoint from OpenAI's inclusive
totals: uncached text input = input − cached − cache_write − (audio/image input when the model
prices them apart); text output = output − (audio/image output when priced apart). A class without
its own price falls back: cached_input and cache_write to input, cache_write_1h (Claude's 1-hour
writes, a part of cache_write) to cache_write; audio/image classes to the text
class they are counted in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from tollway.money import MICROS_PER_USD, ceil_micros, floor_div
from tollway.pricing.schema import ModelPrice, TokenPrices
from tollway.pricing.usage import Usage

__all__ = ["Cost", "OutputBudget", "PricingError", "cost_of", "output_budget", "tier_multiplier"]

_MILLION = Decimal(1_000_000)
_SIXTY = Decimal(60)


class PricingError(ValueError):
    """Usage that the model's price cannot bill (e.g. an image size with no per-image price)."""


@dataclass(frozen=True, slots=True)
class Cost:
    """The price of one request: the exact USD amount, the micro-USD charged, and its lines."""

    usd: Decimal
    micros: int
    lines: dict[str, Decimal] = field(default_factory=dict)


def tier_multiplier(price: ModelPrice, tier: str | None) -> Decimal:
    """The token-price multiplier of a service tier (1 for default/auto/unknown tiers)."""
    if tier is None or price.service_tiers is None:
        return Decimal(1)
    return price.service_tiers.get(tier, Decimal(1))


def _p(prices: TokenPrices, name: str, *fallbacks: str) -> Decimal:
    for attr in (name, *fallbacks):
        value: Decimal | None = getattr(prices, attr)
        if value is not None:
            return value
    return Decimal(0)


def _token_lines(price: ModelPrice, usage: Usage) -> dict[str, Decimal]:
    tp = price.tokens
    if tp is None:
        return {}
    audio_in_apart = tp.audio_input is not None
    image_in_apart = tp.image_input is not None
    audio_out_apart = tp.audio_output is not None
    image_out_apart = tp.image_output is not None

    uncached = usage.input_tokens - usage.cached_tokens - usage.cache_write_tokens
    if audio_in_apart:
        uncached -= usage.audio_input_tokens
    if image_in_apart:
        uncached -= usage.image_input_tokens
    text_out = usage.output_tokens
    if audio_out_apart:
        text_out -= usage.audio_output_tokens
    if image_out_apart:
        text_out -= usage.image_output_tokens
    # Upstream counts that do not add up are billed as reported, never negative.
    uncached = max(uncached, 0)
    text_out = max(text_out, 0)

    write_1h = min(usage.cache_write_1h_tokens, usage.cache_write_tokens)
    counts: dict[str, tuple[int, Decimal]] = {
        "input": (uncached, _p(tp, "input")),
        "cached_input": (usage.cached_tokens, _p(tp, "cached_input", "input")),
        "cache_write": (usage.cache_write_tokens - write_1h, _p(tp, "cache_write", "input")),
        "cache_write_1h": (write_1h, _p(tp, "cache_write_1h", "cache_write", "input")),
        "output": (text_out, _p(tp, "text_output", "output")),
    }
    if audio_in_apart:
        counts["audio_input"] = (usage.audio_input_tokens, _p(tp, "audio_input"))
    if image_in_apart:
        counts["image_input"] = (usage.image_input_tokens, _p(tp, "image_input"))
    if audio_out_apart:
        counts["audio_output"] = (usage.audio_output_tokens, _p(tp, "audio_output"))
    if image_out_apart:
        counts["image_output"] = (usage.image_output_tokens, _p(tp, "image_output"))

    long_ctx = price.long_context
    repriced = long_ctx is not None and usage.input_tokens > long_ctx.threshold_input_tokens
    tier = tier_multiplier(price, usage.service_tier)
    lines: dict[str, Decimal] = {}
    for name, (count, per_million) in counts.items():
        if not count:
            continue
        amount = Decimal(count) * per_million / _MILLION
        if repriced and long_ctx is not None:
            amount *= long_ctx.multipliers.get(name, Decimal(1))  # type: ignore[call-overload]
        lines[name] = amount * tier
    return lines


def cost_of(price: ModelPrice, usage: Usage, group_ratio: Decimal = Decimal(1), *, per_call: bool = True) -> Cost:
    """The exact cost of ``usage`` under ``price`` and the group ratio, rounded up once.

    Raises:
        PricingError: images were produced for a variant that has no per-image price.
    """
    lines = _token_lines(price, usage)
    if per_call and price.per_call:
        lines["per_call"] = price.per_call
    if usage.images and price.per_image is not None:
        variant = usage.image_variant or ""
        each = price.per_image.get(variant)
        if each is None:
            raise PricingError(f"no per-image price for {variant!r}")
        lines["images"] = each * usage.images
    if usage.seconds and price.per_minute is not None:
        lines["minutes"] = price.per_minute * usage.seconds / _SIXTY
    if usage.characters and price.per_million_characters is not None:
        lines["characters"] = price.per_million_characters * usage.characters / _MILLION
    for tool, calls in usage.tool_calls.items():
        fee = (price.tools or {}).get(tool)
        if fee is not None and calls:
            lines[f"tool:{tool}"] = fee * calls
    lines = {k: v * group_ratio for k, v in lines.items()}
    total = sum(lines.values(), Decimal(0))
    return Cost(usd=total, micros=ceil_micros(total), lines=lines)


@dataclass(frozen=True, slots=True)
class OutputBudget:
    """How a reservation grows with the output limit: ``hold(n) = ceil(fixed + n × per_output_token)``.

    ``fixed`` covers the input bound (at the dearest input class), per-call and other fixed fees;
    ``per_output_token`` covers one unit of the output limit across all ``n`` choices. Both are USD,
    with modifiers and the group ratio already applied.
    """

    fixed_usd: Decimal
    per_output_token_usd: Decimal

    def hold_micros(self, max_output_tokens: int) -> int:
        """The reservation for an output limit (the worst case the request allows)."""
        return ceil_micros(self.fixed_usd + self.per_output_token_usd * max_output_tokens)

    def affordable_output_tokens(self, available_micros: int) -> int:
        """The largest output limit whose hold fits in ``available_micros`` (may be ≤ 0: nothing fits)."""
        spare = Decimal(available_micros) / Decimal(MICROS_PER_USD) - self.fixed_usd
        if self.per_output_token_usd == 0:
            return 1 << 62 if spare >= 0 else -1
        tokens = floor_div(spare, self.per_output_token_usd)
        # The hold is rounded up to a whole micro-USD: step down until it fits.
        while tokens > 0 and self.hold_micros(tokens) > available_micros:
            tokens -= 1
        return tokens


def output_budget(
    price: ModelPrice,
    *,
    input_bound_tokens: int,
    choices: int = 1,
    requested_tier: str | None = None,
    group_ratio: Decimal = Decimal(1),
    extra_fixed_usd: Decimal = Decimal(0),
) -> OutputBudget:
    """The reservation function of a token-priced request whose input is at most ``input_bound_tokens``.

    The worst case prices the whole input bound at the dearest input class (a cache write costs more
    than plain input), applies the long-context tier if the bound crosses its threshold, and the
    requested service tier's multiplier.
    """
    tp = price.tokens or TokenPrices()
    write_1h = _p(tp, "cache_write_1h", "cache_write", "input")
    dearest_input = max(_p(tp, "input"), _p(tp, "cache_write", "input"), write_1h)
    out_price = _p(tp, "output", "text_output")
    in_mult = out_mult = Decimal(1)
    lc = price.long_context
    if lc is not None and input_bound_tokens > lc.threshold_input_tokens:
        in_mult = max(lc.multipliers.get(c, Decimal(1)) for c in ("input", "cache_write", "cache_write_1h"))
        out_mult = lc.multipliers.get("output", Decimal(1))
    tier = tier_multiplier(price, requested_tier)
    fixed = Decimal(input_bound_tokens) * dearest_input / _MILLION * in_mult * tier
    fixed += price.per_call or Decimal(0)
    fixed += extra_fixed_usd
    per_token = out_price / _MILLION * out_mult * tier * choices
    return OutputBudget(fixed_usd=fixed * group_ratio, per_output_token_usd=per_token * group_ratio)
