"""Vision input in chat: the reservation covers each image part by its token bound (tollway.vision) —
a data URL measured from its header, a remote URL at the rule's maximum — instead of its URL's bytes.
t-misc prices (USD per 1M): input 1.00, cache write 1.25 (the dearest input class), output 4.00."""

from __future__ import annotations

import base64
import io
import math
from decimal import Decimal

import httpx
import orjson
import pytest
from PIL import Image
from tollway.vision import DEFAULT_RULE, image_tokens_bound
from tollway_local.mock import MockServer

from tests.support.stack import LocalStack

pytestmark = pytest.mark.integration


def jpeg_url(size: tuple[int, int]) -> str:
    out = io.BytesIO()
    Image.effect_noise(size, 64).convert("RGB").save(out, "JPEG", quality=95)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


@pytest.mark.parametrize("where", ["data", "remote"])
def test_chat_holds_for_its_images(stack: LocalStack, mock: MockServer, where: str) -> None:
    stack.channel(["t-misc"], mock.base_url)
    who = stack.customer("1.00")
    url = jpeg_url((1024, 1024)) if where == "data" else "https://images.example.com/cat.jpg"
    body = orjson.dumps(
        {
            "model": "t-misc",
            "max_tokens": 10,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is in it [[len=3]]"},
                        {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
                    ],
                }
            ],
        }
    )
    with httpx.Client(timeout=60) as http:
        response = http.post(
            f"{stack.url}/v1/chat/completions",
            content=body,
            headers={"authorization": f"Bearer {who.key}", "content-type": "application/json"},
        )
    assert response.status_code == 200, response.text
    size = (1024, 1024) if where == "data" else None
    image_bound = image_tokens_bound(DEFAULT_RULE, size, "high")  # t-misc has no documented rule
    assert image_bound == math.ceil((1024 if size else 2500) * Decimal("2.46"))
    bound = len(body) - len(url) + image_bound
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["hold"] == math.ceil(bound * Decimal("1.25") + 10 * 4)
    if where == "data":
        assert len(url) > 100_000  # the base64 bytes would have bounded ~100k tokens; the image takes 2,519
    assert stack.audit(who.account_id)["ok"]
