"""Image billing: what an image request may cost at most (the hold), and the usage of its answer.

GPT Image models are token-priced (text input, image input, image output, cached input where the
upstream reports it), billed from the answer's ``usage``. The hold is fixed before the call, since an
image request has no output limit a client or the relay could lower:

    text input bound × input price + image input bound × image-input price
    + n × (output tokens per image × GIF frames + partial images × partial tokens) × image-output price

Output tokens per image come from the price file: the published table (``image_output_tokens``,
"size/quality") for a table size, else the operator-editable worst case per quality
(``image_output_tokens_worst_case``), the largest when quality or size is ``auto``. DALL·E models are
priced per image by size (and quality).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tollway.errors import InvalidRequest
from tollway.metering.fields import count
from tollway.metering.prices import MILLION
from tollway.pricing.engine import OutputBudget
from tollway.pricing.schema import ModelPrice, TokenPrices
from tollway.pricing.usage import Usage

__all__ = [
    "DEFAULT_WORST_OUTPUT_TOKENS",
    "ImageRequest",
    "image_budget",
    "image_variant",
    "output_tokens_per_image",
    "usage_from_images",
]

#: For a token-priced image model whose price entry has neither a table nor a worst case: gpt-image-2's
#: worst case at high quality (2880×2880, the largest area it accepts), the dearest figure known.
DEFAULT_WORST_OUTPUT_TOKENS = 23_719
DEFAULT_GIF_FRAMES = 9  # OpenAI's default frame_count for output_format=gif


@dataclass(frozen=True, slots=True)
class ImageRequest:
    """What the bill of one image request depends on."""

    n: int = 1
    size: str | None = None
    quality: str | None = None
    partial_images: int = 0  # requested, and only when streaming
    frames: int = 1  # GIF frames (1 for still images)
    text_bound: int = 0  # input text tokens at most
    image_input_bound: int = 0  # input image tokens at most (edits)


def _auto(value: str | None) -> bool:
    return value is None or value == "auto"


def output_tokens_per_image(price: ModelPrice, size: str | None, quality: str | None) -> int:
    """The most output tokens one image of ``size``/``quality`` can take under ``price``."""
    table = price.image_output_tokens or {}
    worst = price.image_output_tokens_worst_case or {}
    everything = [*table.values(), *worst.values()]
    if not everything:
        return DEFAULT_WORST_OUTPUT_TOKENS
    if _auto(quality):
        qualities = {key.rpartition("/")[2] for key in table} | set(worst)
    else:
        qualities = {str(quality)}
    found: list[int] = []
    for q in qualities:
        value = None if _auto(size) else table.get(f"{size}/{q}")
        if value is None:
            value = worst.get(q)
        if value is None and _auto(size):
            per_quality = [v for key, v in table.items() if key.rpartition("/")[2] == q]
            value = max(per_quality) if per_quality else None
        # A size or quality the price file does not know: the dearest figure it has.
        found.append(value if value is not None else max(everything))
    return max(found)


def image_variant(price: ModelPrice, size: str | None, quality: str | None) -> str:
    """The ``per_image`` key of a DALL·E request ("size/quality", else "size"), defaults applied."""
    table = price.per_image or {}
    size = "1024x1024" if _auto(size) else size
    quality = "standard" if _auto(quality) else quality
    for key in (f"{size}/{quality}", str(size)):
        if key in table:
            return key
    sizes = sorted({k.partition("/")[0] for k in table})
    raise InvalidRequest(
        f"The size '{size}' with quality '{quality}' is not available for this model; sizes: {', '.join(sizes)}.",
        param="size",
        code="invalid_value",
    )


def _price(tp: TokenPrices, *names: str) -> Decimal:
    for name in names:
        value: Decimal | None = getattr(tp, name)
        if value is not None:
            return value
    return Decimal(0)


def image_budget(request: ImageRequest, price: ModelPrice, ratio: Decimal, *, partial_tokens: int) -> OutputBudget:
    """The hold of an image request, all of it fixed (no output limit to scale)."""
    fixed = price.per_call or Decimal(0)
    if price.per_image:
        fixed += price.per_image[image_variant(price, request.size, request.quality)] * request.n
    if price.tokens is not None:
        tp = price.tokens
        text_in = max(_price(tp, "input"), _price(tp, "cache_write", "input"))
        image_in = _price(tp, "image_input", "input")
        image_out = _price(tp, "image_output", "output", "text_output")
        per_image = output_tokens_per_image(price, request.size, request.quality) * request.frames
        output = request.n * (per_image + request.partial_images * partial_tokens)
        fixed += (
            Decimal(request.text_bound) * text_in
            + Decimal(request.image_input_bound) * image_in
            + Decimal(output) * image_out
        ) / MILLION
    return OutputBudget(fixed_usd=fixed * ratio, per_output_token_usd=Decimal(0))


def usage_from_images(usage: dict[str, Any], *, partial_images: int = 0, partial_tokens: int = 0) -> Usage:
    """OpenAI ``ImagesUsage`` → :class:`Usage`; partial images add ``partial_tokens`` image-output tokens each.

    ``output_tokens`` counts image tokens (``output_tokens_details`` may split off text tokens, e.g. the
    reasoning of gpt-image-1.5); ``input_tokens`` includes text and image input; a ``cached_tokens``
    detail, where an upstream reports one, is billed as cached text input.
    """
    details = usage.get("input_tokens_details")
    details = details if isinstance(details, dict) else {}
    image_in = count(details.get("image_tokens"))
    text_in = count(details.get("text_tokens"))
    input_tokens = max(count(usage.get("input_tokens")), image_in + text_in)
    cached = min(count(details.get("cached_tokens")), input_tokens - image_in)
    out_details = usage.get("output_tokens_details")
    output = count(usage.get("output_tokens"))
    if isinstance(out_details, dict) and "image_tokens" in out_details:
        image_out = count(out_details.get("image_tokens"))
        output = max(output, image_out + count(out_details.get("text_tokens")))
    else:
        image_out = output
    extra = partial_images * partial_tokens
    return Usage(
        input_tokens=input_tokens,
        cached_tokens=cached,
        image_input_tokens=image_in,
        output_tokens=output + extra,
        image_output_tokens=image_out + extra,
    )
