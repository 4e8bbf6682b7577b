"""Image-token bounds (tollway.vision): header parsing, OpenAI's tile and patch rules, and the input
bound of chat/Responses bodies with image parts."""

from __future__ import annotations

import base64
import io
import math
from decimal import Decimal

import orjson
import pytest
from PIL import Image
from relay.endpoints.base import RequestBody
from relay.endpoints.chat import ChatCompletions
from tollway.vision import (
    DEFAULT_RULE,
    IMAGE_MODEL_TEXT_ALLOWANCE_PER_INPUT,
    IMAGE_MODEL_TOKENS_PER_INPUT,
    IMAGE_MODEL_TOKENS_PER_INPUT_HIGH_FIDELITY,
    image_dimensions,
    image_model_input_bound,
    image_parts,
    image_tokens_bound,
    input_bound,
    rule_for,
    url_dimensions,
)


def encode(size: tuple[int, int], fmt: str, **options: object) -> bytes:
    mode = "RGBA" if options.pop("alpha", False) else "RGB"
    out = io.BytesIO()
    Image.new(mode, size, (10, 20, 30, 40)[: len(mode)]).save(out, fmt, **options)  # type: ignore[arg-type]
    return out.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("PNG", {}),
        ("PNG", {"alpha": True}),
        ("JPEG", {}),
        ("JPEG", {"progressive": True}),
        ("GIF", {}),
        ("WEBP", {}),  # lossy: VP8
        ("WEBP", {"lossless": True}),  # VP8L
        ("WEBP", {"alpha": True}),  # VP8X (alpha)
    ],
)
@pytest.mark.parametrize("size", [(1, 1), (640, 480), (3000, 17), (4097, 2049)])
def test_dimensions_from_every_header(fmt: str, options: dict[str, object], size: tuple[int, int]) -> None:
    assert image_dimensions(encode(size, fmt, **options)) == size


def test_jpeg_with_a_large_exif_block_before_its_frame_header() -> None:
    exif = Image.Exif()
    exif[0x010E] = "x" * 60_000  # ImageDescription: a 60 kB segment before SOF
    data = encode((1234, 567), "JPEG", exif=exif.tobytes())
    assert data.index(b"\xff\xc0") > 60_000
    assert image_dimensions(data) == (1234, 567)
    # The data URL reader decodes more of the payload until it finds the header.
    assert url_dimensions(data_url(data, "image/jpeg")) == (1234, 567)


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image", b"\x89PNG\r\n\x1a\n\x00", b"\xff\xd8\xff\xda\x00\x02", b"RIFF\x00\x00\x00\x00WEBPVP8 "],
)
def test_unreadable_headers_are_unknown(data: bytes) -> None:
    assert image_dimensions(data) is None


def test_url_dimensions_only_reads_base64_data_urls() -> None:
    png = encode((300, 200), "PNG")
    assert url_dimensions(data_url(png)) == (300, 200)
    assert url_dimensions("https://example.com/cat.png") is None
    assert url_dimensions("data:image/png,rawbytes") is None
    assert url_dimensions("data:image/png;base64,@@@@") is None


def test_tile_rule_matches_openais_worked_examples() -> None:
    gpt4o = rule_for("gpt-4o-2024-08-06")
    assert image_tokens_bound(gpt4o, (1024, 1024), "high") == 765  # 4 tiles
    assert image_tokens_bound(gpt4o, (2048, 4096), "high") == 1105  # → 1024×2048 → 768×1536: 6 tiles
    assert image_tokens_bound(gpt4o, (4096, 8192), "low") == 85
    assert image_tokens_bound(gpt4o, (512, 512), "auto") == 255  # small images are not enlarged
    assert image_tokens_bound(gpt4o, None, "high") == 85 + 8 * 170  # unknown size: the most tiles that fit
    assert image_tokens_bound(rule_for("gpt-4o-mini"), (1024, 1024), "high") == 2833 + 4 * 5667


def test_patch_rule_bounds_the_documented_counts() -> None:
    mini = rule_for("gpt-4.1-mini-2025-04-14")
    assert image_tokens_bound(mini, (1024, 1024)) == math.ceil(1024 * Decimal("1.62"))
    # 1800×2400 is shrunk to 1452 patches (OpenAI's example); the bound is the 1536-patch budget.
    assert image_tokens_bound(mini, (1800, 2400)) == math.ceil(1536 * Decimal("1.62")) >= 1452 * Decimal("1.62")
    assert image_tokens_bound(rule_for("gpt-4.1-nano"), None) == math.ceil(1536 * Decimal("2.46"))


def test_models_without_a_documented_rule_get_the_conservative_default() -> None:
    for model in ("gpt-6.2-sol", "gpt-5.4-mini", "gpt-5.1", "some-new-model"):
        assert rule_for(model) is DEFAULT_RULE
    assert rule_for("gpt-5") is rule_for("gpt-5-2025-08-07") is not DEFAULT_RULE
    assert rule_for("gpt-5-mini").kind == "patches"
    assert rule_for("gpt-4.1").kind == "tiles" and rule_for("gpt-4.1-mini").kind == "patches"
    # A 12 MP photo measured at 11,970 patches × 1.2 = 14,364 tokens on gpt-6 (detail auto): bounded.
    assert image_tokens_bound(DEFAULT_RULE, (4032, 3024), "auto") >= 14_364
    assert image_tokens_bound(DEFAULT_RULE, None, "auto") == math.ceil(16_384 * Decimal("2.46"))
    assert image_tokens_bound(DEFAULT_RULE, None, "high") == math.ceil(2500 * Decimal("2.46"))


def chat_body(*parts: object, model: str = "gpt-4o") -> tuple[bytes, object]:
    body = {"model": model, "messages": [{"role": "user", "content": [{"type": "text", "text": "what is it"}, *parts]}]}
    return orjson.dumps(body), body


def test_a_body_without_images_is_bounded_by_its_bytes() -> None:
    raw, body = chat_body()
    assert input_bound(raw, body, "gpt-4o") == len(raw)


def test_a_data_url_image_counts_its_tokens_not_its_base64_bytes() -> None:
    url = data_url(encode((1024, 1024), "PNG"))
    raw, body = chat_body({"type": "image_url", "image_url": {"url": url, "detail": "high"}})
    assert input_bound(raw, body, "gpt-4o") == len(raw) - len(url) + 765


def test_remote_urls_and_file_ids_take_the_rules_maximum() -> None:
    url = "https://example.com/cat.png"
    raw, body = chat_body({"type": "image_url", "image_url": {"url": url}})
    assert input_bound(raw, body, "gpt-4o") == len(raw) - len(url) + 1445
    responses = {
        "model": "gpt-6.2-sol",
        "input": [
            {"role": "user", "content": [{"type": "input_image", "file_id": "file-1", "detail": "high"}]},
            {"type": "function_call_output", "output": [{"type": "input_image", "image_url": url}]},
        ],
    }
    raw = orjson.dumps(responses)
    expected = len(raw) - len(url) + math.ceil(2500 * Decimal("2.46")) + math.ceil(16_384 * Decimal("2.46"))
    assert input_bound(raw, responses, "gpt-6.2-sol") == expected
    assert sorted((p.url, p.detail) for p in image_parts(responses) if p.url) == [(url, "auto")]
    assert sorted(p.detail for p in image_parts(responses)) == ["auto", "high"]


def test_chat_reserves_for_the_image_bound() -> None:
    url = data_url(encode((640, 480), "JPEG"), "image/jpeg")
    raw, body = chat_body({"type": "image_url", "image_url": {"url": url, "detail": "low"}})
    prepared = ChatCompletions().prepare(RequestBody(raw=raw, content_type="application/json", json=body))
    assert prepared.input_bound == len(raw) - len(url) + 85


def test_image_model_inputs() -> None:
    per = IMAGE_MODEL_TOKENS_PER_INPUT + IMAGE_MODEL_TEXT_ALLOWANCE_PER_INPUT
    assert image_model_input_bound([b"a", b"b", b"mask"]) == 3 * per
    high = IMAGE_MODEL_TOKENS_PER_INPUT_HIGH_FIDELITY + IMAGE_MODEL_TEXT_ALLOWANCE_PER_INPUT
    assert image_model_input_bound([b"a"], input_fidelity="high") == high
    assert image_model_input_bound([]) == 0
