"""What costs nothing: an upstream content-policy refusal (passed on as OpenAI sends it), oversize and
malformed multipart bodies, a broken image stream; and a balance below the reservation is a 402 before
any upstream call. Each leaves exactly one usage record, no charge and no open hold."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import openai
import pytest
from PIL import Image
from relay.multipart import FilePart, encode_multipart
from tollway.money import format_usd
from tollway_local.mock import MockServer

from tests.support.stack import Customer, LocalStack, wait_until

pytestmark = pytest.mark.integration


def png(size: tuple[int, int] = (64, 64)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(out, "PNG")
    return out.getvalue()


def assert_free(stack: LocalStack, who: Customer, credit: int, status: str, http_status: int) -> dict[str, Any]:
    (record,) = wait_until(lambda: stack.records(who.account_id), what="the record")
    assert (record["status"], record["http_status"], record["charge"]) == (status, http_status, 0)
    assert not stack.open_holds(who.account_id)
    assert stack.balance(who.account_id) == credit
    assert stack.audit(who.account_id)["ok"]
    return record


@pytest.mark.parametrize("stream", [False, True])
def test_content_policy_refusal_is_passed_on_and_costs_nothing(
    stack: LocalStack, mock: MockServer, stream: bool
) -> None:
    stack.channel(["t-gpt-image-1"], mock.base_url)
    who = stack.customer("1.00")
    with stack.client(who.key) as client, pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(
            model="t-gpt-image-1", prompt="something [[moderation]]", stream=stream, size="1024x1024"
        )
    error = caught.value.body
    assert isinstance(error, dict)
    assert (error["type"], error["code"]) == ("image_generation_user_error", "moderation_blocked")
    assert error["moderation_details"] == {"moderation_stage": "input", "categories": ["mock-category"]}
    assert "safety system" in error["message"]
    record = assert_free(stack, who, 1_000_000, "error", 400)
    assert record["error_code"] == "moderation_blocked"
    assert len(mock.stats()["requests_log"]) == 1  # not retried on another channel


def post_form(stack: LocalStack, key: str, content: bytes, content_type: str) -> httpx.Response:
    with httpx.Client(timeout=60) as http:
        return http.post(
            f"{stack.url}/v1/images/edits",
            content=content,
            headers={"authorization": f"Bearer {key}", "content-type": content_type},
        )


def test_oversize_multipart_is_413_and_states_the_limit(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-gpt-image-1"], mock.base_url)
    who = stack.customer("1.00")
    big = png() + b"\x00" * 4_100_000  # a PNG padded past tollway's 4,000,000-byte limit
    content, ctype = encode_multipart(
        [("model", "t-gpt-image-1"), ("prompt", "x")], [FilePart("image", "big.png", "image/png", big)]
    )
    response = post_form(stack, who.key, content, ctype)
    assert response.status_code == 413
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "request_too_large")
    assert "4,000,000 bytes" in error["message"]
    assert_free(stack, who, 1_000_000, "refused", 413)
    assert mock.stats()["requests"] == {}


def _bad_forms() -> list[tuple[str, bytes, str, str]]:
    good, ctype = encode_multipart(
        [("model", "t-gpt-image-1"), ("prompt", "x")], [FilePart("image", "a.png", "image/png", png())]
    )
    boundary = ctype.split("boundary=")[1]
    too_many = encode_multipart(
        [("model", "t-gpt-image-1"), ("prompt", "x")],
        [FilePart("image[]", f"{i}.png", "image/png", png()) for i in range(17)],
    )
    not_image = encode_multipart(
        [("model", "t-gpt-image-1"), ("prompt", "x")],
        [FilePart("image", "a.png", "image/png", b"%PDF-1.7 not an image")],
    )
    return [
        ("cut off", good[: len(good) // 2], ctype, "invalid_multipart"),
        ("no boundary", good, "multipart/form-data", "invalid_multipart"),
        ("wrong boundary", good.replace(boundary.encode(), b"other"), ctype, "invalid_multipart"),
        (
            "json",
            json.dumps({"model": "t-gpt-image-1", "prompt": "x"}).encode(),
            "application/json",
            "invalid_content_type",
        ),
        ("too many images", *too_many, "too_many_images"),
        ("not an image", *not_image, "invalid_image_format"),
    ]


@pytest.mark.parametrize(("case", "content", "ctype", "code"), _bad_forms(), ids=[c[0] for c in _bad_forms()])
def test_malformed_multipart_is_400_and_costs_nothing(
    stack: LocalStack, mock: MockServer, case: str, content: bytes, ctype: str, code: str
) -> None:
    stack.channel(["t-gpt-image-1"], mock.base_url)
    who = stack.customer("1.00")
    response = post_form(stack, who.key, content, ctype)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", code), error
    assert_free(stack, who, 1_000_000, "refused", 400)
    assert mock.stats()["requests"] == {}


def test_a_balance_below_the_reservation_is_402_before_any_upstream_call(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-gpt-image-1"], mock.base_url)
    body = json.dumps(
        {"model": "t-gpt-image-1", "prompt": "three castles", "n": 3, "size": "1024x1536", "quality": "high"}
    ).encode()
    # The hold, by hand: the body's bytes bound its text (5 micro-USD per token), and three 1024x1536 high
    # images take 6,240 output tokens each (40 micro-USD per token).
    hold = len(body) * 5 + 3 * 6240 * 40
    poor = stack.customer(format_usd(hold - 1))

    def post(key: str) -> httpx.Response:
        with httpx.Client(timeout=60) as http:
            return http.post(
                f"{stack.url}/v1/images/generations",
                content=body,
                headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
            )

    response = post(poor.key)
    assert response.status_code == 402, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("insufficient_quota", "insufficient_quota")
    assert format_usd(hold) in error["message"]
    # An image request has no output limit to lower: it is told to add credit, never to lower max_tokens.
    assert error["message"].endswith("Add credit.") and "max_tokens" not in error["message"]
    assert mock.stats()["requests"] == {}  # refused before any upstream call
    assert_free(stack, poor, hold - 1, "refused", 402)
    # Exactly the hold is enough.
    enough = stack.customer(format_usd(hold))
    response = post(enough.key)
    assert response.status_code == 200, response.text
    (record,) = stack.wait_records(enough.account_id, 1)
    assert record["hold"] == hold
    assert record["charge"] == (2 + 6) * 5 + 3 * 6240 * 40  # "three castles": 2 words + 6 = 8 text tokens
    assert stack.audit(enough.account_id)["ok"]


def test_a_broken_image_stream_costs_nothing(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-gpt-image-2"], mock.fault_base_url("cut_after=1"))
    who = stack.customer("1.00")
    seen: list[str] = []

    def read_all(client: openai.OpenAI) -> None:
        stream = client.images.generate(
            model="t-gpt-image-2", prompt="a kite", stream=True, partial_images=3, size="1024x1024", quality="low"
        )
        for event in stream:
            seen.append(event.type)

    with stack.client(who.key) as client, pytest.raises(openai.APIError):
        read_all(client)
    assert seen == ["image_generation.partial_image"]  # what arrived was relayed before the break
    record = assert_free(stack, who, 1_000_000, "error", 502)
    assert record["error_code"] == "upstream_stream_broken"
