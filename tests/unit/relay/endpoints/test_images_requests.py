"""Reading image requests (relay.endpoints.images): what bounds the cost, strict multipart, and the
body sent upstream (every parameter passed through, the model mapped, files with their real type)."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import orjson
import pytest
from PIL import Image
from relay.endpoints.base import RequestBody
from relay.endpoints.images import ImageEdits, ImageGenerations, ImageVariations
from relay.multipart import FilePart, encode_multipart, parse_multipart
from tollway.errors import InvalidRequest
from tollway.metering.images_billing import ImageRequest
from tollway.pricing.schema import shipped_prices
from tollway.vision import IMAGE_MODEL_TEXT_ALLOWANCE_PER_INPUT, IMAGE_MODEL_TOKENS_PER_INPUT


def png(size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


def json_body(data: Any) -> RequestBody:
    raw = orjson.dumps(data)
    return RequestBody(raw=raw, content_type="application/json", json=data)


def form_body(fields: list[tuple[str, str]], files: list[FilePart]) -> RequestBody:
    raw, ctype = encode_multipart(fields, files)
    return RequestBody(raw=raw, content_type=ctype, form=parse_multipart(raw, ctype))


def test_generation_request() -> None:
    body = json_body(
        {
            "model": "gpt-image-1",
            "prompt": "a fox",
            "n": 3,
            "size": "1536x1024",
            "quality": "high",
            "stream": True,
            "partial_images": 2,
            "future_parameter": {"anything": [1, 2]},
        }
    )
    prepared = ImageGenerations().prepare(body)
    assert (prepared.model, prepared.stream, prepared.has_output_limit, prepared.choices) == (
        "gpt-image-1",
        True,
        False,
        3,
    )
    assert prepared.extra["image"] == ImageRequest(
        n=3, size="1536x1024", quality="high", partial_images=2, frames=1, text_bound=len(body.raw)
    )
    sent = orjson.loads(ImageGenerations().upstream_body(prepared, None, "gpt-image-2").content)
    assert sent == {**body.json, "model": "gpt-image-2"}  # every parameter passed on, the model mapped


@pytest.mark.parametrize(
    ("data", "model"),
    [
        ({"prompt": "x"}, "dall-e-2"),
        ({"prompt": "x", "quality": "high"}, "gpt-image-1.5"),
        ({"prompt": "x", "stream": True}, "gpt-image-1.5"),
    ],
)
def test_openais_default_models(data: dict[str, Any], model: str) -> None:
    assert ImageGenerations().prepare(json_body(data)).model == model


@pytest.mark.parametrize(
    ("data", "param"),
    [
        ({"model": "gpt-image-1"}, "prompt"),
        ({"model": "gpt-image-1", "prompt": "  "}, "prompt"),
        ({"model": "gpt-image-1", "prompt": "x", "n": 11}, "n"),
        ({"model": "gpt-image-1", "prompt": "x", "n": "two"}, "n"),
        ({"model": "gpt-image-1", "prompt": "x", "stream": "yes"}, "stream"),
        ({"model": "gpt-image-1", "prompt": "x", "stream": True, "partial_images": 4}, "partial_images"),
        ({"model": "gpt-image-1", "prompt": "x", "size": 1024}, "size"),
        ({"model": "gpt-image-1", "prompt": "x", "output_format": "svg"}, "output_format"),
        ({"model": "gpt-image-1", "prompt": "x", "output_format": "gif", "frame_count": 40}, "frame_count"),
        ({"model": 5, "prompt": "x"}, "model"),
    ],
)
def test_generation_refusals(data: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        ImageGenerations().prepare(json_body(data))
    assert caught.value.param == param


def test_partial_images_count_only_when_streaming_and_gif_frames_multiply() -> None:
    plain = ImageGenerations().prepare(json_body({"model": "gpt-image-2", "prompt": "x", "partial_images": 3}))
    assert plain.extra["image"].partial_images == 0
    gif = ImageGenerations().prepare(json_body({"model": "gpt-image-2", "prompt": "x", "output_format": "gif"}))
    assert gif.extra["image"].frames == 9


def edit_form(images: int = 2, *, mask: bool = True, **fields: str) -> RequestBody:
    parts = [FilePart("image[]", f"in{i}.png", "application/octet-stream", png()) for i in range(images)]
    if mask:
        parts.append(FilePart("mask", "mask.png", "image/png", png()))
    values = {"model": "gpt-image-1", "prompt": "put them in a basket", **fields}
    return form_body(list(values.items()), parts)


def test_edit_request_bounds_its_images_and_maps_the_model() -> None:
    body = edit_form(2, n="2", quality="low", input_fidelity="low", background="transparent", future="kept")
    spec = ImageEdits()
    prepared = spec.prepare(body)
    request: ImageRequest = prepared.extra["image"]
    per_image = IMAGE_MODEL_TOKENS_PER_INPUT + IMAGE_MODEL_TEXT_ALLOWANCE_PER_INPUT
    assert request.image_input_bound == 3 * per_image  # two images and the mask
    assert (request.n, request.quality, prepared.model) == (2, "low", "gpt-image-1")
    assert prepared.input_bound == request.text_bound + request.image_input_bound
    upstream = spec.upstream_body(prepared, None, "gpt-image-2")
    sent = parse_multipart(upstream.content, upstream.content_type)
    assert sent.fields["model"] == ["gpt-image-2"]
    assert {k: v for k, v in sent.fields.items() if k != "model"} == {
        k: v for k, v in (body.form.fields if body.form else {}).items() if k != "model"
    }
    assert [(f.name, f.filename, f.content_type) for f in sent.files] == [
        ("image[]", "in0.png", "image/png"),  # the real type, not the client's octet-stream
        ("image[]", "in1.png", "image/png"),
        ("mask", "mask.png", "image/png"),
    ]
    assert all(f.data == png() for f in sent.files)
    # The hold for that request, by hand (gpt-image-1: 5 / 10 / 40 micro-USD per text-in / image-in / out token).
    budget = spec.budget(prepared, shipped_prices().models["gpt-image-1"], Decimal(1))
    # No size: auto, so the largest low-quality figure (1024x1536: 408 tokens).
    assert budget.hold_micros(0) == request.text_bound * 5 + 3 * per_image * 10 + 2 * 408 * 40


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (edit_form(0, mask=False), "image"),
        (edit_form(17, mask=False), "image"),
        (form_body([("model", "gpt-image-1")], [FilePart("image", "a.png", "image/png", png())]), "prompt"),
        (form_body([("prompt", "x")], [FilePart("image", "a.txt", "text/plain", b"hello")]), "image"),
        (
            form_body(
                [("prompt", "x")],
                [FilePart("image", "a.png", "image/png", png()), FilePart("mask", "m.gif", "image/gif", b"GIF89a")],
            ),
            "mask",
        ),
        (edit_form(1, n="0"), "n"),
        (form_body([("prompt", "x"), ("prompt", "y")], [FilePart("image", "a.png", "image/png", png())]), "prompt"),
    ],
)
def test_edit_refusals(body: RequestBody, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        ImageEdits().prepare(body)
    assert caught.value.param == param


def test_edits_need_a_multipart_body() -> None:
    with pytest.raises(InvalidRequest):
        ImageEdits().prepare(RequestBody(raw=b"{}", content_type="application/json", json={}))


def test_variation_request() -> None:
    body = form_body([("n", "2"), ("size", "512x512")], [FilePart("image", "otter.png", "image/png", png())])
    prepared = ImageVariations().prepare(body)
    assert (prepared.model, prepared.extra["image"].n, prepared.extra["image"].size) == ("dall-e-2", 2, "512x512")
    budget = ImageVariations().budget(prepared, shipped_prices().models["dall-e-2"], Decimal(1))
    assert budget.hold_micros(0) == 2 * 18_000
    assert prepared.extra["variant"] == "512x512"
    two = form_body(
        [], [FilePart("image", "a.png", "image/png", png()), FilePart("image", "b.png", "image/png", png())]
    )
    with pytest.raises(InvalidRequest):
        ImageVariations().prepare(two)
