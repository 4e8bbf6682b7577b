"""The hold of an image request and the usage of its answer (tollway.metering.images_billing), checked by
hand arithmetic against the shipped price file, and against the mock's usage for every size/quality."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from tollway.errors import InvalidRequest
from tollway.metering.images_billing import (
    DEFAULT_WORST_OUTPUT_TOKENS,
    ImageRequest,
    image_budget,
    image_variant,
    output_tokens_per_image,
    usage_from_images,
)
from tollway.pricing.engine import cost_of
from tollway.pricing.schema import ModelPrice, TokenPrices, shipped_prices
from tollway.pricing.usage import Usage
from tollway_local.mock.image_usage import plan_images

PRICES = shipped_prices().models
IMAGE_MODELS = sorted(m for m, p in PRICES.items() if p.tokens and p.endpoints and "images.edits" in p.endpoints)


def hold(model: str, request: ImageRequest, ratio: str = "1", partial_tokens: int = 100) -> int:
    return image_budget(request, PRICES[model], Decimal(ratio), partial_tokens=partial_tokens).hold_micros(0)


def test_table_lookup_auto_and_unknown() -> None:
    p = PRICES["gpt-image-1"]
    assert output_tokens_per_image(p, "1024x1536", "high") == 6240
    assert output_tokens_per_image(p, "1024x1024", "auto") == 4160  # the largest quality of that size
    assert output_tokens_per_image(p, "auto", "low") == 408  # the largest size of that quality
    assert output_tokens_per_image(p, None, None) == 6240  # both auto: the largest of the table
    assert output_tokens_per_image(p, "2048x2048", "high") == 6240  # a size the table lacks: the dearest
    assert output_tokens_per_image(p, "1024x1024", "xhigh") == 6240  # likewise a quality


def test_gpt_image_2_uses_its_table_for_standard_sizes_and_the_worst_case_otherwise() -> None:
    p = PRICES["gpt-image-2"]
    assert output_tokens_per_image(p, "1024x1024", "high") == 7050
    assert output_tokens_per_image(p, "2048x1152", "medium") == 5930
    assert output_tokens_per_image(p, "auto", "low") == 659  # auto may be any size
    assert output_tokens_per_image(p, "3840x2160", None) == 23_719
    flare = PRICES["gpt-image-2.5-flare"]
    assert output_tokens_per_image(flare, "1024x1024", "max") == 94_876


def test_a_model_without_token_figures_gets_the_default_worst_case() -> None:
    bare = ModelPrice(tokens=TokenPrices(input=Decimal(1), image_output=Decimal(10)))
    assert output_tokens_per_image(bare, "1024x1024", "high") == DEFAULT_WORST_OUTPUT_TOKENS


def test_hold_by_hand() -> None:
    # gpt-image-1: text 5.00, image in 10.00, image out 40.00 per 1M = 5, 10, 40 micro-USD per token.
    request = ImageRequest(n=3, size="1024x1536", quality="high", text_bound=200)
    assert hold("gpt-image-1", request) == 200 * 5 + 3 * 6240 * 40
    streamed = ImageRequest(n=2, size="1024x1024", quality="low", partial_images=3, text_bound=120)
    assert hold("gpt-image-1", streamed) == 120 * 5 + 2 * (272 + 3 * 100) * 40
    edit = ImageRequest(n=1, size="1024x1024", quality="medium", text_bound=90, image_input_bound=3 * 1664)
    assert hold("gpt-image-1", edit) == 90 * 5 + 3 * 1664 * 10 + 1056 * 40
    gif = ImageRequest(size="1024x1024", quality="low", frames=9, text_bound=10)
    assert hold("gpt-image-2", gif) == 10 * 5 + 9 * 217 * 30
    # gpt-image-1-mini: text 2.00, image out 8.00; a group ratio of 1.5 scales the whole hold, rounded up once.
    mini = ImageRequest(n=1, size="1536x1024", quality="medium", text_bound=33)
    assert hold("gpt-image-1-mini", mini, "1.5") == math.ceil((33 * 2 + 1568 * 8) * Decimal("1.5"))


def test_dalle_holds_per_image() -> None:
    assert hold("dall-e-3", ImageRequest(size="1792x1024", quality="hd")) == 120_000
    assert hold("dall-e-3", ImageRequest()) == 40_000  # 1024x1024 standard by default
    assert hold("dall-e-2", ImageRequest(n=4, size="256x256")) == 4 * 16_000
    assert image_variant(PRICES["dall-e-2"], "512x512", None) == "512x512"
    with pytest.raises(InvalidRequest) as caught:
        image_variant(PRICES["dall-e-3"], "256x256", None)
    assert caught.value.param == "size"


def test_usage_from_images() -> None:
    usage = usage_from_images(
        {
            "input_tokens": 60,
            "input_tokens_details": {"text_tokens": 20, "image_tokens": 40, "cached_tokens": 5},
            "output_tokens": 4200,
            "output_tokens_details": {"image_tokens": 4160, "text_tokens": 40},
            "total_tokens": 4260,
        },
        partial_images=2,
        partial_tokens=100,
    )
    assert usage == Usage(
        input_tokens=60, cached_tokens=5, image_input_tokens=40, output_tokens=4400, image_output_tokens=4360
    )
    # ImagesUsage without output details: every output token is an image token.
    bare = usage_from_images(
        {"input_tokens": 9, "input_tokens_details": {"text_tokens": 9, "image_tokens": 0}, "output_tokens": 272}
    )
    assert (bare.output_tokens, bare.image_output_tokens) == (272, 272)
    # gpt-image-1.5 prices its text output (reasoning) apart: 10.00 per 1M.
    cost = cost_of(PRICES["gpt-image-1.5"], usage).micros
    assert cost == math.ceil(Decimal(15 * 5) + Decimal(5) * Decimal("1.25") + 40 * 8 + 4360 * 32 + 40 * 10)


@pytest.mark.parametrize("model", IMAGE_MODELS)
@pytest.mark.parametrize("size", ["1024x1024", "1024x1536", "1536x1024", "auto", None])
@pytest.mark.parametrize("quality", ["low", "medium", "high", "auto", None])
def test_the_hold_covers_what_the_mock_bills(model: str, size: str | None, quality: str | None) -> None:
    """For every shipped GPT Image model, standard size and quality: hold ≥ the cost of the mock's usage
    (which follows OpenAI's tables and gpt-image-2's measured formula)."""
    prompt = "a lighthouse at dawn, oil on canvas"
    plan = plan_images(model, prompt, n=2, size=size, quality=quality, input_sizes=((2000, 1500), (64, 64)))
    reported = plan.usage()
    assert reported is not None
    usage = usage_from_images(reported, partial_images=2, partial_tokens=100)
    request = ImageRequest(
        n=2, size=size, quality=quality, partial_images=2, text_bound=len(prompt) + 6, image_input_bound=2 * 1664
    )
    assert hold(model, request) >= cost_of(PRICES[model], usage).micros
