"""A 30 MB ``b64_json`` answer leaves the relay whole (its memory during the transfer is measured by
``python -m bench.images`` and reported in docs/images.md)."""

from __future__ import annotations

import base64
import io
import json
import math
from decimal import Decimal

import httpx
import pytest
from PIL import Image
from tollway_local.mock import MockServer
from tollway_local.mock.pictures import picture_b64, seed_of

from tests.support.stack import TEST_PRICES, LocalStack

pytestmark = pytest.mark.integration


def test_a_30_mb_answer_relays_completely(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-gpt-image-2"], mock.base_url)
    who = stack.customer("5.00")
    prompt = "[[noise]] television static"  # the mock fills the pictures with incompressible noise
    request = {"model": "t-gpt-image-2", "prompt": prompt, "n": 2, "size": "2048x2048", "quality": "low"}
    received = bytearray()
    with (
        httpx.Client(timeout=120) as http,
        http.stream(
            "POST", f"{stack.url}/v1/images/generations", json=request, headers={"authorization": f"Bearer {who.key}"}
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        for chunk in response.iter_raw():
            received += chunk
    assert len(received) > 30_000_000
    answer = json.loads(received)
    assert len(answer["data"]) == 2
    for index, item in enumerate(answer["data"]):
        # Byte for byte what the mock rendered.
        expected = picture_b64(seed_of("t-gpt-image-2", prompt, str(index)), 2048, 2048, "png", True, None, 0, False)
        assert item["b64_json"] == expected
        with Image.open(io.BytesIO(base64.b64decode(item["b64_json"]))) as image:
            image.load()
            assert image.size == (2048, 2048)
    usage = answer["usage"]
    prices = json.loads(TEST_PRICES.read_text())["models"]["t-gpt-image-2"]["tokens"]
    text_in = usage["input_tokens"] - usage["input_tokens_details"]["image_tokens"]
    charge = math.ceil(text_in * Decimal(prices["input"]) + usage["output_tokens"] * Decimal(prices["image_output"]))
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["charge"] == charge == 9 * 5 + 2 * 397 * 30  # gpt-image-2, 2048x2048 low: 397 tokens each
    assert record["status"] == "ok" and record["units"] == {"images": 2}
    assert stack.audit(who.account_id)["ok"]
