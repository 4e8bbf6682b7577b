"""The mock's Anthropic dialect over real HTTP, read by the official `anthropic` SDK and by raw SSE."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anthropic
import httpx
import orjson
import pytest
from tollway_local.mock import LEAK_KEY, MockConfig, MockServer
from tollway_local.mock.message_usage import expected_message_usage

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration

HEADERS = {"x-api-key": "sk-ant-key-one", "anthropic-version": "2023-06-01"}
TOOL = {
    "name": "get_weather",
    "description": "the weather now",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
SYSTEM = [{"type": "text", "text": "rules " * 40, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


@pytest.fixture
def sdk(mock: MockServer) -> Iterator[anthropic.Anthropic]:
    mock.reset()
    with anthropic.Anthropic(base_url=mock.url, api_key="sk-ant-key-one", max_retries=0) as client:
        yield client


def body(text: str, **fields: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-5-5", "max_tokens": 200, "messages": [{"role": "user", "content": text}], **fields}


def sse_events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event name, data) pairs; each event must have both lines with the same type."""
    events = []
    for chunk in raw.decode().split("\n\n"):
        if not chunk.strip():
            continue
        name_line, data_line = chunk.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: ")
        data = orjson.loads(data_line[6:])
        assert data["type"] == name_line[7:]
        events.append((name_line[7:], data))
    return events


def test_non_stream_message_and_request_id(sdk: anthropic.Anthropic, mock: MockServer) -> None:
    request = body("hello there [[len=5]]")
    raw = sdk.messages.with_raw_response.create(**request)
    message = raw.parse()
    assert raw.headers["request-id"].startswith("req_mock-")
    assert message.type == "message" and message.role == "assistant"
    assert message.stop_reason == "end_turn"
    assert len(message.content[0].text.split()) == 5  # type: ignore[union-attr]
    assert message.usage.model_dump(exclude_none=True) == expected_message_usage(request)
    assert mock.stats()["requests_log"][-1]["usage"] == expected_message_usage(request)


def test_stream_wire_format_is_anthropics(mock: MockServer) -> None:
    request = body(
        "go [[len=3]] [[reasoning=2]] [[tool_use]]", stream=True, tools=[TOOL], thinking={"type": "adaptive"}
    )
    mock.reset()
    response = httpx.post(f"{mock.url}/v1/messages?beta=true", json=request, headers=HEADERS, trust_env=False)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.content)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        *["content_block_start", "ping", "content_block_delta", "content_block_delta"],
        *["content_block_delta", "content_block_stop"],  # thinking: 2 deltas, a signature, stop
        *["content_block_start", *["content_block_delta"] * 3, "content_block_stop"],  # text
        *["content_block_start", "content_block_delta", "content_block_delta", "content_block_stop"],  # tool
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    usage = expected_message_usage({**request, "stream": False})
    assert start["usage"]["input_tokens"] == usage["input_tokens"] and start["usage"]["output_tokens"] == 1
    assert start["usage"]["cache_creation"] == usage["cache_creation"]
    assert events[5][1]["delta"]["type"] == "signature_delta"
    tool_start = events[12][1]["content_block"]
    assert tool_start["type"] == "tool_use" and tool_start["input"] == {}
    partial = "".join(d["delta"]["partial_json"] for n, d in events[13:15])
    assert orjson.loads(partial) == {"city": "lorem"}
    final = events[-2][1]
    assert final["delta"]["stop_reason"] == "tool_use"
    assert final["usage"]["output_tokens"] == usage["output_tokens"] == 2 + 3 + 10


def test_sdk_stream_helpers_give_the_final_message(sdk: anthropic.Anthropic) -> None:
    request = body("stream me [[len=6]]")
    with sdk.messages.stream(**request) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == final.content[0].text  # type: ignore[union-attr]
    assert final.usage.output_tokens == 6
    assert final.usage.input_tokens == expected_message_usage(request)["input_tokens"]


def test_cache_reads_only_on_the_same_key(mock: MockServer) -> None:
    mock.reset()
    request = body("q", system=SYSTEM)
    clients = [anthropic.Anthropic(base_url=mock.url, api_key=k, max_retries=0) for k in ("sk-a", "sk-a", "sk-b")]
    usages = [c.messages.create(**request).usage for c in clients]
    for client in clients:
        client.close()
    cold, warm = expected_message_usage(request), expected_message_usage(request, warm=True)
    assert usages[0].cache_creation_input_tokens == cold["cache_creation_input_tokens"] > 0
    assert usages[0].cache_creation.ephemeral_1h_input_tokens == cold["cache_creation_input_tokens"]  # type: ignore[union-attr]
    assert usages[1].cache_read_input_tokens == warm["cache_read_input_tokens"] > 0
    assert usages[1].cache_creation_input_tokens == 0
    assert usages[2].cache_read_input_tokens == 0  # another key: its own, cold cache


def test_thinking_signature_fails_on_another_key(mock: MockServer, sdk: anthropic.Anthropic) -> None:
    first = sdk.messages.create(**body("think [[len=2]]", thinking={"type": "adaptive"}))
    turn = [
        {"role": "user", "content": "think [[len=2]]"},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": "again"},
    ]
    follow = {"model": "claude-sonnet-5-5", "max_tokens": 100, "thinking": {"type": "adaptive"}, "messages": turn}
    assert sdk.messages.create(**follow).stop_reason == "end_turn"
    with anthropic.Anthropic(base_url=mock.url, api_key="sk-other", max_retries=0) as other:
        with pytest.raises(anthropic.BadRequestError, match="Invalid `signature`"):
            other.messages.create(**follow)


def test_count_tokens_and_models(sdk: anthropic.Anthropic) -> None:
    request = body("one two three", system=SYSTEM)
    counted = sdk.messages.count_tokens(model=request["model"], messages=request["messages"], system=SYSTEM)
    usage = expected_message_usage(request)
    assert counted.input_tokens == usage["input_tokens"] + usage["cache_creation_input_tokens"]
    page = sdk.models.list(limit=2)
    assert [m.id for m in page.data] == ["claude-fable-5-2", "claude-opus-5-5"]
    assert page.has_more is True
    assert sdk.models.retrieve("claude-opus-5-5").type == "model"
    with pytest.raises(anthropic.NotFoundError):
        sdk.models.retrieve("claude-nope")


def test_models_shape_follows_anthropic_version(mock: MockServer) -> None:
    openai_shape = httpx.get(f"{mock.url}/v1/models", headers={"authorization": "Bearer k"}, trust_env=False).json()
    assert openai_shape["object"] == "list"
    claude_shape = httpx.get(f"{mock.url}/v1/models", headers=HEADERS, trust_env=False).json()
    assert {"data", "has_more", "first_id", "last_id"} <= claude_shape.keys()
    assert claude_shape["data"][0]["type"] == "model"


@pytest.mark.parametrize(
    ("headers", "status", "error_type"),
    [
        ({"anthropic-version": "2023-06-01"}, 401, "authentication_error"),
        ({"x-api-key": "k"}, 400, "invalid_request_error"),
    ],
)
def test_header_checks(mock: MockServer, headers: dict[str, str], status: int, error_type: str) -> None:
    response = httpx.post(f"{mock.url}/v1/messages", json=body("hi"), headers=headers, trust_env=False)
    assert response.status_code == status
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == error_type


def test_configured_key_rejects_others() -> None:
    with MockServer(MockConfig.fast(api_key="sk-right")) as server:
        ok = anthropic.Anthropic(base_url=server.url, api_key="sk-right", max_retries=0)
        wrong = anthropic.Anthropic(base_url=server.url, api_key="sk-wrong", max_retries=0)
        assert ok.messages.create(**body("hi")).type == "message"
        with pytest.raises(anthropic.AuthenticationError, match="invalid x-api-key"):
            wrong.messages.create(**body("hi"))
        # Anthropic's header works as well as the Bearer token the SDK sends
        response = httpx.post(f"{server.url}/v1/messages", json=body("hi"), headers=HEADERS | {"x-api-key": "sk-right"})
        assert response.status_code == 200
        ok.close()
        wrong.close()


@pytest.mark.parametrize(
    ("mode", "exception", "status", "error_type"),
    [
        ("http401", anthropic.AuthenticationError, 401, "authentication_error"),
        ("http403", anthropic.PermissionDeniedError, 403, "permission_error"),
        ("http429", anthropic.RateLimitError, 429, "rate_limit_error"),
        ("http529", anthropic.OverloadedError, 529, "overloaded_error"),
        ("http500", anthropic.InternalServerError, 500, "api_error"),
        ("insufficient_quota", anthropic.BadRequestError, 400, "invalid_request_error"),
    ],
)
def test_error_faults_per_request(
    sdk: anthropic.Anthropic, mode: str, exception: type[anthropic.APIStatusError], status: int, error_type: str
) -> None:
    with pytest.raises(exception) as raised:
        sdk.messages.create(**body(f"hi [[fault:{mode}]]"))
    assert raised.value.status_code == status
    assert raised.value.body["type"] == "error"  # type: ignore[index]
    assert raised.value.body["error"]["type"] == error_type  # type: ignore[index]


def test_error_faults_per_server_and_per_channel_path() -> None:
    with MockServer(MockConfig.fast(faults=("http529",))) as server:
        client = anthropic.Anthropic(base_url=server.url, api_key="k", max_retries=0)
        with pytest.raises(anthropic.OverloadedError):
            client.messages.create(**body("hi"))
        client.close()
    with MockServer() as server:
        client = anthropic.Anthropic(base_url=f"{server.url}/fault/http429", api_key="k", max_retries=0)
        with pytest.raises(anthropic.RateLimitError) as raised:
            client.messages.create(**body("hi"))
        assert raised.value.response.headers["retry-after"] == "7"
        client.close()


def test_cut_stream_ends_without_message_delta(mock: MockServer) -> None:
    mock.reset()
    request = body("cut me [[len=10]] [[fault:cut_after=3]]", stream=True)
    with httpx.stream("POST", f"{mock.url}/v1/messages", json=request, headers=HEADERS, trust_env=False) as response:
        received = b""
        with pytest.raises(httpx.RemoteProtocolError):  # noqa: PT012 - the cut comes mid-body
            for piece in response.iter_bytes():
                received += piece
    names = [chunk.split("\n")[0] for chunk in received.decode().split("\n\n") if chunk]
    assert names.count("event: content_block_delta") == 3
    assert "event: message_delta" not in names
    record = mock.stats()["requests_log"][-1]
    assert (record["outcome"], record["tokens_sent"], record["usage"]) == ("cut", 3, None)


def test_no_usage_leaves_usage_out(mock: MockServer) -> None:
    request = body("[[len=4]] [[fault:no_usage]]", stream=True)
    response = httpx.post(f"{mock.url}/v1/messages", json=request, headers=HEADERS, trust_env=False)
    events = dict(sse_events(response.content))
    assert "usage" not in events["message_delta"]
    assert events["message_start"]["message"]["usage"]["output_tokens"] == 1
    plain = httpx.post(f"{mock.url}/v1/messages", json=body("[[len=4]] [[fault:no_usage]]"), headers=HEADERS)
    assert plain.status_code == 200
    assert "usage" not in plain.json()


def test_mid_stream_error_is_an_error_event(sdk: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.APIStatusError) as raised:  # noqa: PT012
        with sdk.messages.stream(**body("[[len=6]] [[fault:sse_error_after=2]]")) as stream:
            for _ in stream.text_stream:
                pass
    assert "overloaded_error" in str(raised.value)
    assert LEAK_KEY in str(raised.value)  # the upstream's text: a relay must not pass it on


def test_slow_first_still_answers(sdk: anthropic.Anthropic, mock: MockServer) -> None:
    sdk.messages.create(**body("[[len=1]] [[fault:slow_first=50]]"))
    assert mock.stats()["requests_log"][-1]["faults"] == ["slow_first=50"]


def test_tool_round_trip_through_the_sdk(sdk: anthropic.Anthropic) -> None:
    first = sdk.messages.create(**body("weather? [[len=2]] [[tool_use]]", tools=[TOOL]))
    assert first.stop_reason == "tool_use"
    call = first.content[-1]
    assert call.type == "tool_use" and call.input == {"city": "lorem"}
    turn = [
        {"role": "user", "content": "weather? [[len=2]] [[tool_use]]"},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}]},
    ]
    second = sdk.messages.create(model="claude-sonnet-5-5", max_tokens=100, tools=[TOOL], messages=turn)
    assert second.stop_reason == "end_turn"
