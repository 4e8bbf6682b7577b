"""Streaming chat as OpenAI sends it, read by the official SDK and raw; abort detection; pacing order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import openai
import orjson
import pytest
from tollway_local.mock import MockServer, completion_text, expected_usage

if TYPE_CHECKING:
    from collections.abc import Iterator

    from openai.types.chat import ChatCompletionMessageParam

pytestmark = pytest.mark.integration

AUTH = {"Authorization": "Bearer sk-test-channel-key"}


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


@pytest.fixture
def sdk(mock: MockServer) -> Iterator[openai.OpenAI]:
    mock.reset()
    client = openai.OpenAI(base_url=mock.base_url, api_key="sk-test-channel-key", max_retries=0)
    yield client
    client.close()


def messages(content: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": content}]


def sse_events(response: httpx.Response) -> list[str]:
    """The `data:` payloads of an SSE response, in order."""
    return [line[len("data: ") :] for line in response.iter_lines() if line.startswith("data: ")]


def test_sdk_stream_with_include_usage(mock: MockServer, sdk: openai.OpenAI) -> None:
    msgs: list[ChatCompletionMessageParam] = [{"role": "user", "content": "stream me [[len=7]] [[cached=2]]"}]
    stream = sdk.chat.completions.create(
        model="gpt-5.4-mini", messages=msgs, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert "".join(c.choices[0].delta.content or "" for c in content_chunks) == completion_text(msgs, 7)
    assert len(content_chunks) == 7
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.usage is None for c in chunks[:-1])
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    body = {"model": "gpt-5.4-mini", "messages": msgs}
    assert last.usage.model_dump(exclude_none=True) == expected_usage(body)
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert len({c.id for c in chunks}) == 1
    assert len({c.created for c in chunks}) == 1
    stats = mock.wait_for(lambda s: s["streams_completed"] == 1)
    entry = stats["requests_log"][-1]
    assert (entry["tokens_sent"], entry["completed"], entry["usage"]) == (7, True, expected_usage(body))


def test_sdk_stream_without_include_usage_has_no_usage(mock: MockServer, sdk: openai.OpenAI) -> None:
    stream = sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi [[len=3]]"}], stream=True)
    chunks = list(stream)
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)
    assert mock.wait_for(lambda s: s["streams_completed"] == 1)["requests_log"][-1]["usage"] is None


def test_raw_stream_wire_format(mock: MockServer) -> None:
    mock.reset()
    body = {
        "model": "m",
        "messages": messages("wire [[len=2]]"),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with (
        httpx.Client(trust_env=False) as client,
        client.stream("POST", f"{mock.base_url}/chat/completions", json=body, headers=AUTH) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-mock-request-id"]
        raw = response.read()
    assert raw.endswith(b"data: [DONE]\n\n")
    assert b"event:" not in raw
    events = raw.decode().split("\n\n")[:-1]
    assert all(e.startswith("data: ") for e in events)
    parsed = [orjson.loads(e[6:]) for e in events[:-1]]
    # role chunk, 2 content chunks, final chunk, usage chunk
    assert len(parsed) == 5
    assert all(p["object"] == "chat.completion.chunk" for p in parsed)
    assert all("usage" in p and p["usage"] is None for p in parsed[:-1])
    assert parsed[3]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert parsed[4]["choices"] == []
    assert parsed[4]["usage"]["completion_tokens"] == 2


def test_stream_without_include_usage_omits_the_usage_key(mock: MockServer) -> None:
    body = {"model": "m", "messages": messages("wire [[len=2]]"), "stream": True}
    with httpx.Client(trust_env=False) as client:
        response = client.post(f"{mock.base_url}/chat/completions", json=body, headers=AUTH)
    events = sse_events(response)
    assert events[-1] == "[DONE]"
    assert all("usage" not in orjson.loads(e) for e in events[:-1])


def test_stream_n_3_interleaves_choices(mock: MockServer) -> None:
    msgs = messages("three [[len=3]]")
    body = {"model": "m", "messages": msgs, "stream": True, "n": 3, "stream_options": {"include_usage": True}}
    with httpx.Client(trust_env=False) as client:
        events = sse_events(client.post(f"{mock.base_url}/chat/completions", json=body, headers=AUTH))
    chunks = [orjson.loads(e) for e in events[:-1]]
    texts = ["", "", ""]
    for chunk in chunks:
        for choice in chunk["choices"]:
            texts[choice["index"]] += choice["delta"].get("content", "")
    assert texts == [completion_text(msgs, 3, i) for i in range(3)]
    finishes = [c["choices"][0]["index"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finishes == [0, 1, 2]
    assert chunks[-1]["usage"]["completion_tokens"] == 9


def test_client_abort_is_detected_while_the_mock_sleeps_between_tokens(mock: MockServer) -> None:
    mock.reset()
    body = {"model": "m", "messages": messages("slow [[len=200]]"), "stream": True}
    # 10 tokens/s: the full answer would take 20 s, longer than wait_for's timeout below.
    headers = {**AUTH, "X-Mock-Tokens-Per-S": "10"}
    with (
        httpx.Client(trust_env=False, timeout=10.0) as client,
        client.stream("POST", f"{mock.base_url}/chat/completions", json=body, headers=headers) as response,
    ):
        lines = response.iter_lines()
        content = 0
        while content < 2:
            line = next(lines)
            if '"content":" ' in line:
                content += 1
        assert mock.stats()["open_streams"] == 1
    stats = mock.wait_for(lambda s: s["streams_aborted"] == 1)
    assert (stats["streams_started"], stats["streams_completed"], stats["open_streams"]) == (1, 0, 0)
    entry = stats["requests_log"][-1]
    assert entry["client_disconnected"] is True
    assert entry["completed"] is False
    assert entry["tokens_planned"] == 200
    assert 2 <= entry["tokens_sent"] < 20


def test_paced_stream_sends_role_then_tokens_in_order(mock: MockServer) -> None:
    msgs = messages("paced [[len=4]]")
    body = {"model": "m", "messages": msgs, "stream": True}
    headers = {**AUTH, "X-Mock-Latency-Ms": "20", "X-Mock-Tokens-Per-S": "200"}
    with httpx.Client(trust_env=False) as client:
        events = sse_events(client.post(f"{mock.base_url}/chat/completions", json=body, headers=headers))
    chunks = [orjson.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == completion_text(msgs, 4)


def test_invalid_pacing_header_is_400(mock: MockServer) -> None:
    body = {"model": "m", "messages": messages("x")}
    with httpx.Client(trust_env=False) as client:
        response = client.post(
            f"{mock.base_url}/chat/completions", json=body, headers={**AUTH, "X-Mock-Latency-Ms": "soon"}
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_mock_header"
