"""The mock's image formulas (tollway_local.mock.image_usage) and pictures: table tests."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from tollway_local.mock.errors import MockHTTPError
from tollway_local.mock.image_usage import (
    OUTPUT_TABLE,
    expected_image_usage,
    family_of,
    gpt_image_2_output_tokens,
    input_image_tokens,
    plan_images,
)
from tollway_local.mock.pictures import render


@pytest.mark.parametrize(
    ("quality", "size", "tokens"),
    [
        # The figures the community measured on the API (and OpenAI's calculator shows).
        ("high", (1024, 1024), 7024),
        ("high", (1536, 1024), 5488),
        ("low", (976, 704), 129),
        ("low", (960, 720), 130),
        ("high", (2880, 2880), 23_719),
        ("medium", (1024, 1024), 1756),
    ],
)
def test_gpt_image_2_output_formula(quality: str, size: tuple[int, int], tokens: int) -> None:
    assert gpt_image_2_output_tokens(quality, *size) == tokens


def test_families() -> None:
    assert family_of("gpt-image-1") == family_of("t-gpt-image-1") == family_of("chatgpt-image-latest") == "table"
    assert family_of("gpt-image-2.5-flare") == family_of("t-gpt-image-2") == "gpt-image-2"
    assert (family_of("dall-e-2"), family_of("t-dall-e-3")) == ("dall-e-2", "dall-e-3")


def test_table_usage() -> None:
    usage = expected_image_usage("gpt-image-1", "a red fox", n=3, size="1024x1536", quality="medium")
    assert usage == {
        "input_tokens": 3 + 6,
        "input_tokens_details": {"text_tokens": 9, "image_tokens": 0},
        "output_tokens": 3 * OUTPUT_TABLE["1024x1536/medium"],
        "total_tokens": 9 + 3 * 1584,
        "output_tokens_details": {"image_tokens": 3 * 1584, "text_tokens": 0},
    }
    # auto → 1024x1024 / high; [[prompt=N]] sets the text tokens
    auto = expected_image_usage("gpt-image-1.5", "x [[prompt=500]]")
    assert auto is not None and auto["output_tokens"] == 4160 and auto["input_tokens"] == 500


def test_edit_input_tokens() -> None:
    assert input_image_tokens("table", 300, 200) == 65 + 129
    assert input_image_tokens("table", 1024, 1024) == 65 + 129 * 1  # shortest side down to 512: one tile
    assert input_image_tokens("table", 4000, 1000) == 65 + 129 * 4  # fit 2048 → 2048×512: four tiles
    assert input_image_tokens("gpt-image-2", 300, 200) == 19 * 13  # magnified 2× → 600×400
    assert input_image_tokens("gpt-image-2", 4000, 3000) == 1536
    plan = plan_images("gpt-image-2", "p", input_sizes=((300, 200), (4000, 3000)))
    assert plan.image_tokens == 19 * 13 + 1536


def test_dalle_has_no_usage_and_checks_sizes() -> None:
    assert expected_image_usage("dall-e-3", "x", size="1792x1024", quality="hd") is None
    with pytest.raises(MockHTTPError):
        plan_images("dall-e-3", "x", n=2)
    with pytest.raises(MockHTTPError):
        plan_images("dall-e-2", "x", size="1792x1024")


@pytest.mark.parametrize("size", ["1000x1000", "4096x1024", "512x512", "3840x320", "big"])
def test_invalid_gpt_image_2_sizes(size: str) -> None:
    with pytest.raises(MockHTTPError) as caught:
        plan_images("gpt-image-2", "x", size=size)
    assert caught.value.status == 400 and caught.value.body["error"]["param"] == "size"


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_pictures_are_real_deterministic_images(fmt: str) -> None:
    one = render(42, 320, 240, fmt)
    assert one == render(42, 320, 240, fmt) != render(43, 320, 240, fmt)
    with Image.open(io.BytesIO(one)) as image:
        assert image.size == (320, 240) and image.format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt]
    assert len(one) < 20_000  # small by default
    noise = render(42, 320, 240, "png", noise=True)
    assert len(noise) > 320 * 240 * 3  # large on request: incompressible
