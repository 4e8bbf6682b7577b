"""Images through the real local stack with the official SDK: generations (n=1, n=3), edits with two
images and a mask, streaming partial images, DALL·E per-image prices, a model mapped by its channel.

Every image must decode, and every charge must equal the hand-computed price of the answer's usage
under tests/data/test-prices.json (USD per 1M tokens → micro-USD per token):

    t-gpt-image-1: text in 5, image in 10, image out 40   (gpt-image-1's prices)
    t-gpt-image-2: text in 5, image in 8,  image out 30   (gpt-image-2's prices)
    each partial image adds 100 image-output tokens; DALL·E is priced per image.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import openai
import pytest
from PIL import Image
from tollway_local.mock import MockServer
from tollway_local.mock.image_usage import expected_image_usage

from tests.support.stack import TEST_PRICES, LocalStack

pytestmark = pytest.mark.integration

PRICES = json.loads(TEST_PRICES.read_text())["models"]


def hand_charge(model: str, usage: dict[str, Any], *, partial_images: int = 0) -> int:
    """text × input + image-in × image_input + (output + 100 per partial) × image_output, rounded up once."""
    p = {k: Decimal(v) for k, v in PRICES[model]["tokens"].items()}
    image_in = usage["input_tokens_details"]["image_tokens"]
    text_in = usage["input_tokens"] - image_in
    output = usage["output_tokens"] + 100 * partial_images
    micros = text_in * p["input"] + image_in * p["image_input"] + output * p["image_output"]
    return math.ceil(micros)


def decode(b64: str | None) -> Image.Image:
    assert b64
    image = Image.open(io.BytesIO(base64.b64decode(b64)))
    image.load()  # the whole image decodes, not just its header
    return image


def png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, (30, 60, 90, 255)[: len(mode)]).save(out, "PNG")
    return out.getvalue()


SDK = Callable[..., openai.OpenAI]


@pytest.fixture
def sdk(stack: LocalStack) -> Iterator[SDK]:
    """The official SDK for a key (or a base URL); every client is closed when the test ends."""
    clients: list[openai.OpenAI] = []

    def make(key: str, base_url: str | None = None) -> openai.OpenAI:
        client = (
            stack.client(key)
            if base_url is None
            else openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=60)
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def images_channel(stack: LocalStack, mock: MockServer) -> MockServer:
    stack.channel(["t-gpt-image-1", "t-gpt-image-2", "t-dall-e-3", "t-dall-e-2"], mock.base_url)
    return mock


def one_record(stack: LocalStack, account_id: str) -> dict[str, Any]:
    (record,) = stack.wait_records(account_id, 1)
    return record


def test_generate_one_image(stack: LocalStack, sdk: SDK, images_channel: MockServer) -> None:
    who = stack.customer("2.00")
    result = sdk(who.key).images.generate(
        model="t-gpt-image-1",
        prompt="a lighthouse at dawn",
        size="1024x1024",
        quality="high",
        extra_body={"future_parameter": {"kept": True}},
    )
    assert len(result.data or []) == 1 and result.usage is not None
    image = decode((result.data or [])[0].b64_json)
    assert (image.format, image.size) == ("PNG", (1024, 1024))
    usage = result.usage.model_dump(exclude_none=True)
    assert usage == expected_image_usage("t-gpt-image-1", "a lighthouse at dawn", size="1024x1024", quality="high")
    record = one_record(stack, who.account_id)
    charge = hand_charge("t-gpt-image-1", usage)
    assert charge == 10 * 5 + 4160 * 40
    assert (record["charge"], record["status"], record["endpoint"]) == (charge, "ok", "images.generations")
    assert record["tokens"] == {"input": 10, "output": 4160, "image_output": 4160}
    assert record["units"] == {"images": 1} and record["hold"] >= charge
    assert stack.balance(who.account_id) == 2_000_000 - charge
    sent = images_channel.stats()["requests_log"][-1]["body"]
    assert sent["future_parameter"] == {"kept": True}  # unknown parameters pass through
    assert stack.audit(who.account_id)["ok"]


def test_generate_three_images(stack: LocalStack, sdk: SDK, images_channel: MockServer) -> None:
    who = stack.customer("2.00")
    result = sdk(who.key).images.generate(
        model="t-gpt-image-2", prompt="three red foxes", n=3, size="1536x1024", quality="medium", output_format="jpeg"
    )
    data = result.data or []
    assert len(data) == 3
    for item in data:
        image = decode(item.b64_json)
        assert (image.format, image.size) == ("JPEG", (1536, 1024))
    assert len({item.b64_json for item in data}) == 3  # three different pictures
    assert result.usage is not None
    usage = result.usage.model_dump(exclude_none=True)
    assert usage["output_tokens"] == 3 * 1372  # gpt-image-2's formula for 1536x1024 medium
    record = one_record(stack, who.account_id)
    assert record["charge"] == hand_charge("t-gpt-image-2", usage) == 9 * 5 + 3 * 1372 * 30
    assert record["units"] == {"images": 3}
    assert stack.audit(who.account_id)["ok"]


def test_edit_with_two_images_and_a_mask(stack: LocalStack, sdk: SDK, images_channel: MockServer) -> None:
    who = stack.customer("2.00")
    first, second = png((300, 200)), png((1600, 800))
    result = sdk(who.key).images.edit(
        model="t-gpt-image-1",
        prompt="put both in a gift basket",
        image=[("first.png", first, "image/png"), ("second.png", second, "application/octet-stream")],
        mask=("mask.png", png((300, 200), "RGBA"), "image/png"),
        size="1024x1024",
        quality="low",
    )
    image = decode((result.data or [])[0].b64_json)
    assert image.size == (1024, 1024)
    assert result.usage is not None
    usage = result.usage.model_dump(exclude_none=True)
    # The mock's tile rule: 300×200 → 1 tile; 1600×800 → 1024×512 → 2 tiles (65 + 129 per tile).
    assert usage["input_tokens_details"] == {"text_tokens": 6 + 6, "image_tokens": (65 + 129) + (65 + 2 * 129)}
    record = one_record(stack, who.account_id)
    assert record["charge"] == hand_charge("t-gpt-image-1", usage) == 12 * 5 + 517 * 10 + 272 * 40
    assert record["endpoint"] == "images.edits"
    assert record["tokens"]["image_input"] == 517
    sent = images_channel.stats()["requests_log"][-1]["body"]
    assert [(f["name"], f["filename"], f["content_type"]) for f in sent["files"]] == [
        ("image[]", "first.png", "image/png"),
        ("image[]", "second.png", "image/png"),  # its real type, sniffed
        ("mask", "mask.png", "image/png"),
    ]
    assert sent["fields"]["prompt"] == "put both in a gift basket"
    assert stack.audit(who.account_id)["ok"]


def test_stream_with_two_partial_images(stack: LocalStack, sdk: SDK, images_channel: MockServer) -> None:
    who = stack.customer("2.00")
    stream = sdk(who.key).images.generate(
        model="t-gpt-image-2", prompt="a paper boat", size="1024x1024", quality="low", stream=True, partial_images=2
    )
    events = list(stream)
    assert [e.type for e in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    for event in events:
        assert decode(event.b64_json).size == (1024, 1024)
    assert [getattr(e, "partial_image_index", None) for e in events[:2]] == [0, 1]
    completed = events[-1]
    assert completed.type == "image_generation.completed" and completed.usage is not None
    usage = completed.usage.model_dump(exclude_none=True)
    record = one_record(stack, who.account_id)
    assert record["stream"] is True and record["status"] == "ok"
    assert record["charge"] == hand_charge("t-gpt-image-2", usage, partial_images=2) == 9 * 5 + (196 + 200) * 30
    assert record["tokens"]["image_output"] == 196 + 200
    assert stack.audit(who.account_id)["ok"]


def test_a_retired_name_mapped_by_the_channel_bills_the_requested_model(
    stack: LocalStack, sdk: SDK, mock: MockServer
) -> None:
    # Customers' tools still send gpt-image-1; the operator maps it to gpt-image-2 upstream.
    stack.channel(["gpt-image-1"], mock.base_url, model_map={"gpt-image-1": "gpt-image-2"}, priority=100)
    who = stack.customer("2.00")
    result = sdk(who.key).images.generate(
        model="gpt-image-1", prompt="a castle in the clouds", size="1024x1024", quality="high"
    )
    assert mock.stats()["requests_log"][-1]["body"]["model"] == "gpt-image-2"
    assert result.usage is not None
    usage = result.usage.model_dump(exclude_none=True)
    assert usage["output_tokens"] == 7024  # what gpt-image-2 produces for 1024x1024 high
    record = one_record(stack, who.account_id)
    assert (record["model"], record["upstream_model"]) == ("gpt-image-1", "gpt-image-2")
    # gpt-image-1's prices (text 5.00, image out 40.00 per 1M) on gpt-image-2's usage.
    assert record["charge"] == 11 * 5 + 7024 * 40
    # The hold followed gpt-image-1's table (4,160 tokens); the overrun came from the balance.
    assert record["hold"] < record["charge"] and record["shortfall"] == 0
    assert stack.audit(who.account_id)["ok"]


def test_dalle_is_priced_per_image(stack: LocalStack, sdk: SDK, images_channel: MockServer) -> None:
    who = stack.customer("2.00")
    client = sdk(who.key)
    hd = client.images.generate(model="t-dall-e-3", prompt="a quiet harbour", size="1792x1024", quality="hd")
    assert (hd.data or [])[0].url and (hd.data or [])[0].revised_prompt == "a quiet harbour"
    with pytest.warns(DeprecationWarning, match="deprecated"):  # the SDK marks variations deprecated (dall-e-2 only)
        variations = client.images.create_variation(
            model="t-dall-e-2",
            image=("otter.png", png((256, 256)), "image/png"),
            n=2,
            size="512x512",
            response_format="b64_json",
        )
    assert [decode(d.b64_json).size for d in variations.data or []] == [(512, 512), (512, 512)]
    records = {r["endpoint"]: r for r in stack.wait_records(who.account_id, 2)}
    assert records["images.generations"]["charge"] == 120_000  # $0.120 for 1792x1024 hd
    assert records["images.variations"]["charge"] == 2 * 18_000  # $0.018 per 512x512 image
    assert records["images.variations"]["units"] == {"images": 2}
    assert stack.balance(who.account_id) == 2_000_000 - 156_000
    assert stack.audit(who.account_id)["ok"]


def test_routes_without_v1_and_full_urls(stack: LocalStack, sdk: SDK, images_channel: MockServer) -> None:
    who = stack.customer("2.00")
    for base in (stack.url, f"{stack.url}/v1/images/generations"):
        client = sdk(who.key, base)
        result = client.images.generate(model="t-gpt-image-1", prompt="x", size="1024x1024", quality="low")
        assert decode((result.data or [])[0].b64_json).size == (1024, 1024)
    assert len(stack.wait_records(who.account_id, 2)) == 2
