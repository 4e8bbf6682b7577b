"""The mock's image endpoints on their own, through the official SDK (no relay): usage follows the
documented formulas, streams follow the reference, and the fault modes apply."""

from __future__ import annotations

import base64
import io

import httpx
import openai
import pytest
from PIL import Image
from tollway_local.mock import MockServer
from tollway_local.mock.image_usage import expected_image_usage

pytestmark = pytest.mark.integration


def client(mock: MockServer, base_url: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url or mock.base_url, api_key="sk-test", max_retries=0, timeout=60)


def png(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (9, 9, 9)).save(out, "PNG")
    return out.getvalue()


def test_generation_usage_and_pictures(mock: MockServer) -> None:
    with client(mock) as sdk:
        result = sdk.images.generate(model="gpt-image-2", prompt="a red fox", n=2, size="2048x1152", quality="medium")
    assert result.usage is not None
    usage = result.usage.model_dump(exclude_none=True)
    assert usage == expected_image_usage("gpt-image-2", "a red fox", n=2, size="2048x1152", quality="medium")
    assert (result.size, result.quality, result.output_format) == ("2048x1152", "medium", "png")
    for item in result.data or []:
        assert Image.open(io.BytesIO(base64.b64decode(item.b64_json or ""))).size == (2048, 1152)
    assert mock.stats()["requests_log"][-1]["usage"] == usage


def test_edit_counts_its_input_images(mock: MockServer) -> None:
    with client(mock) as sdk:
        result = sdk.images.edit(
            model="gpt-image-2", prompt="merge", image=[("a.png", png((300, 200)), "image/png")] * 2
        )
    assert result.usage is not None
    assert result.usage.input_tokens_details.image_tokens == 2 * 19 * 13  # 300×200 magnified to 600×400


def test_streams_and_faults(mock: MockServer) -> None:
    with client(mock) as sdk:
        events = list(sdk.images.generate(model="gpt-image-1", prompt="x", stream=True, partial_images=3))
        assert [e.type for e in events] == ["image_generation.partial_image"] * 3 + ["image_generation.completed"]
        completed = events[-1]
        assert completed.type == "image_generation.completed" and completed.usage is not None
        assert completed.usage.output_tokens == 4160
    with client(mock, mock.fault_base_url("no_usage")) as sdk:
        assert sdk.images.generate(model="gpt-image-1", prompt="x").usage is None
    with client(mock, mock.fault_base_url("http500")) as sdk, pytest.raises(openai.InternalServerError):
        sdk.images.generate(model="gpt-image-1", prompt="x")
    # cut_after=1: one partial image, then the connection drops (no completed event).
    with httpx.Client(timeout=30) as http, pytest.raises(httpx.RemoteProtocolError):
        http.post(
            f"{mock.fault_base_url('cut_after=1')}/images/generations",
            json={"model": "gpt-image-1", "prompt": "x", "stream": True, "partial_images": 3},
            headers={"authorization": "Bearer k"},
        )


def test_bad_multipart_and_moderation(mock: MockServer) -> None:
    with httpx.Client(timeout=30) as http:
        response = http.post(
            f"{mock.base_url}/images/edits",
            content=b"--x\r\nbroken",
            headers={"authorization": "Bearer k", "content-type": "multipart/form-data; boundary=x"},
        )
    assert response.status_code == 400
    with client(mock) as sdk, pytest.raises(openai.BadRequestError) as caught:
        sdk.images.edit(model="gpt-image-1", prompt="[[moderation]]", image=("a.png", png((64, 64)), "image/png"))
    assert caught.value.code == "moderation_blocked"
