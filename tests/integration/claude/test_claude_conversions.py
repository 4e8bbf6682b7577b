"""Conversions both ways through the real stack, each side with its official SDK: the `openai` SDK asking a
Claude model on /v1/chat/completions (served by an Anthropic channel), and the `anthropic` SDK asking a GPT
model on /v1/messages (served by an OpenAI-format channel) — plain, streamed, tool turns, a cut stream —
with the converted request checked where the upstream received it and each charge taken from the
upstream's own usage."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest
from tollway_local.mock import MockServer, completion_text, expected_usage

from tests.integration.claude.conftest import claude_charge
from tests.support.stack import LocalStack

pytestmark = pytest.mark.integration

CLAUDE = "t-claude-conv"
GPT = "t-gpt-via-messages"
OPENAI_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "the weather now",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CLAUDE_TOOL = {
    "name": "get_weather",
    "description": "the weather now",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def gpt_charge(usage: dict[str, Any]) -> int:
    """t-gpt-via-messages: input 1, cached 0.1, output 4 micro-USD per token (rounded up once)."""
    cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
    total = (usage["prompt_tokens"] - cached) * 10 + cached + usage["completion_tokens"] * 40
    return -(-total // 10)


def last_sent(mock: MockServer, endpoint: str) -> dict[str, Any]:
    record: dict[str, Any] = [r for r in mock.stats()["requests_log"] if r["endpoint"] == endpoint][-1]
    return record


# ---- OpenAI clients asking for Claude --------------------------------------------------------------


def test_openai_sdk_asks_claude_plain(stack: LocalStack, mock: MockServer) -> None:
    stack.channel([CLAUDE], mock.url, type="anthropic")
    who = stack.customer()
    reply = stack.client(who.key).chat.completions.create(
        model=CLAUDE,
        max_tokens=100,
        messages=[
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "hello"}, {"type": "text", "text": "there [[len=5]]"}],
            },
        ],
    )
    sent = last_sent(mock, "/messages")
    assert sent["body"]["system"] in ("be brief", [{"type": "text", "text": "be brief"}])
    assert [m["role"] for m in sent["body"]["messages"]] == ["user"]
    upstream = sent["usage"]
    assert reply.choices[0].finish_reason == "stop"
    assert len((reply.choices[0].message.content or "").split()) == 5
    assert reply.usage is not None
    total_in = upstream["input_tokens"] + upstream["cache_read_input_tokens"] + upstream["cache_creation_input_tokens"]
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (total_in, upstream["output_tokens"])
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["format"] == "converted" and record["charge"] == claude_charge(upstream)


def test_openai_sdk_streams_claude_with_usage(stack: LocalStack, mock: MockServer) -> None:
    stack.channel([CLAUDE], mock.url, type="anthropic")
    who = stack.customer()
    chunks = list(
        stack.client(who.key).chat.completions.create(
            model=CLAUDE,
            max_tokens=100,
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "stream [[len=6]]"}],
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 6
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    upstream = last_sent(mock, "/messages")["usage"]
    assert chunks[-1].usage.completion_tokens == upstream["output_tokens"] == 6
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["charge"] == claude_charge(upstream) and record["stream"] is True


def test_openai_sdk_tool_turn_with_claude_keeps_ids(stack: LocalStack, mock: MockServer) -> None:
    stack.channel([CLAUDE], mock.url, type="anthropic")
    who = stack.customer()
    client = stack.client(who.key)
    ask = [{"role": "user", "content": "weather in Paris? [[len=2]] [[tool_use=2]]"}]
    first = client.chat.completions.create(model=CLAUDE, max_tokens=200, tools=[OPENAI_TOOL], messages=ask)  # type: ignore[list-item]
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert len(calls) == 2 and all(json.loads(c.function.arguments) == {"city": "lorem"} for c in calls)  # type: ignore[union-attr]
    follow: list[Any] = [
        *ask,
        choice.message.model_dump(exclude_none=True),
        *({"role": "tool", "tool_call_id": c.id, "content": "sunny"} for c in calls),
    ]
    second = client.chat.completions.create(model=CLAUDE, max_tokens=200, tools=[OPENAI_TOOL], messages=follow)
    assert second.choices[0].finish_reason == "stop"
    sent = last_sent(mock, "/messages")["body"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    uses = [b["id"] for b in sent[1]["content"] if b["type"] == "tool_use"]
    results = [b["tool_use_id"] for b in sent[2]["content"] if b["type"] == "tool_result"]
    assert uses == results == [c.id for c in calls]  # ids kept both ways, results in one user turn


def test_openai_sdk_streamed_tool_call_from_claude(stack: LocalStack, mock: MockServer) -> None:
    stack.channel([CLAUDE], mock.url, type="anthropic")
    who = stack.customer()
    chunks = list(
        stack.client(who.key).chat.completions.create(
            model=CLAUDE,
            max_tokens=200,
            stream=True,
            stream_options={"include_usage": True},
            tools=[OPENAI_TOOL],  # type: ignore[list-item]
            messages=[{"role": "user", "content": "weather? [[len=1]] [[tool_use]]"}],
        )
    )
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert {d.index for d in deltas} == {0}
    assert deltas[0].id and deltas[0].function and deltas[0].function.name == "get_weather"
    arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
    assert json.loads(arguments) == {"city": "lorem"}
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]
    assert chunks[-1].usage is not None


def test_openai_sdk_claude_stream_cut_midway_ends_properly(stack: LocalStack, mock: MockServer) -> None:
    stack.channel([CLAUDE], mock.url, type="anthropic")
    who = stack.customer()
    stream = stack.client(who.key).chat.completions.create(
        model=CLAUDE,
        max_tokens=100,
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "go [[len=20]] [[fault:cut_after=4]]"}],
    )
    chunks: list[Any] = []
    with pytest.raises(openai.APIError) as broke:  # noqa: PT012 - the error arrives inside the stream
        for chunk in stream:
            chunks.append(chunk)
    # an error event then [DONE] — a clean end the SDK reports, never a dropped connection or a hang
    assert not isinstance(broke.value, openai.APIConnectionError)
    assert "broke off" in str(broke.value)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 4
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["status"] != "ok"


def test_openai_sdk_claude_refusal_maps_to_content_filter(stack: LocalStack, mock: MockServer) -> None:
    stack.channel([CLAUDE], mock.url, type="anthropic")
    who = stack.customer()
    client = stack.client(who.key)
    plain = client.chat.completions.create(
        model=CLAUDE, max_tokens=100, messages=[{"role": "user", "content": "no [[len=2]] [[refusal]]"}]
    )
    assert plain.choices[0].finish_reason == "content_filter"
    chunks = list(
        client.chat.completions.create(
            model=CLAUDE,
            max_tokens=100,
            stream=True,
            messages=[{"role": "user", "content": "no [[len=2]] [[refusal]]"}],
        )
    )
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["content_filter"]


# ---- Anthropic clients asking for GPT --------------------------------------------------------------


def test_anthropic_sdk_asks_gpt_plain(stack: LocalStack, mock: MockServer, sdk_factory: Any) -> None:
    stack.channel([GPT], mock.base_url)
    who = stack.customer()
    message = sdk_factory(who.key).messages.create(
        model=GPT,
        max_tokens=100,
        system="be brief",
        messages=[{"role": "user", "content": "hello there [[len=5]] [[cached=4]]"}],
    )
    sent = last_sent(mock, "/chat/completions")
    assert sent["body"]["messages"][0] == {"role": "system", "content": "be brief"} or sent["body"]["messages"][0][
        "role"
    ] in ("system", "developer")
    upstream = sent["usage"]
    assert upstream == expected_usage(sent["body"])
    assert message.type == "message" and message.stop_reason == "end_turn"
    assert message.content[0].text.strip() == completion_text(sent["body"]["messages"], 5).strip()  # type: ignore[union-attr]
    cached = upstream["prompt_tokens_details"]["cached_tokens"]
    assert message.usage.cache_read_input_tokens == cached == 4
    assert message.usage.input_tokens == upstream["prompt_tokens"] - cached  # additive, never double counted
    assert message.usage.output_tokens == upstream["completion_tokens"]
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["format"] == "converted" and record["charge"] == gpt_charge(upstream)


def test_anthropic_sdk_streams_gpt(stack: LocalStack, mock: MockServer, sdk_factory: Any) -> None:
    stack.channel([GPT], mock.base_url)
    who = stack.customer()
    with sdk_factory(who.key).messages.stream(
        model=GPT, max_tokens=100, messages=[{"role": "user", "content": "stream [[len=7]]"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert len(text.split()) == 7 and final.stop_reason == "end_turn"
    upstream = last_sent(mock, "/chat/completions")["usage"]
    assert upstream is not None  # the relay asked the OpenAI upstream for stream usage
    assert final.usage.output_tokens == upstream["completion_tokens"] == 7
    assert final.usage.input_tokens == upstream["prompt_tokens"]
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["charge"] == gpt_charge(upstream)


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_sdk_tool_turn_with_gpt(stack: LocalStack, mock: MockServer, sdk_factory: Any, stream: bool) -> None:
    stack.channel([GPT], mock.base_url)
    who = stack.customer()
    client: anthropic.Anthropic = sdk_factory(who.key)
    ask = [{"role": "user", "content": "weather? [[len=2]] [[tool_calls=2]]"}]
    if stream:
        with client.messages.stream(model=GPT, max_tokens=200, tools=[CLAUDE_TOOL], messages=ask) as events:  # type: ignore[arg-type]
            first = events.get_final_message()
    else:
        first = client.messages.create(model=GPT, max_tokens=200, tools=[CLAUDE_TOOL], messages=ask)  # type: ignore[arg-type]
    assert first.stop_reason == "tool_use"  # the converted turn closes (message_delta + message_stop)
    uses = [b for b in first.content if b.type == "tool_use"]
    assert len(uses) == 2 and all(u.input == {"city": "lorem"} for u in uses)
    follow = [
        *ask,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": u.id, "content": "sunny"} for u in uses]},
    ]
    second = client.messages.create(model=GPT, max_tokens=200, tools=[CLAUDE_TOOL], messages=follow)  # type: ignore[arg-type]
    assert second.stop_reason == "end_turn"
    sent = last_sent(mock, "/chat/completions")["body"]
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assistant = next(m for m in sent["messages"] if m["role"] == "assistant")
    tools = [m for m in sent["messages"] if m["role"] == "tool"]
    assert [c["id"] for c in assistant["tool_calls"]] == [m["tool_call_id"] for m in tools] == [u.id for u in uses]


def test_anthropic_sdk_gpt_stream_cut_midway_ends_properly(
    stack: LocalStack, mock: MockServer, sdk_factory: Any
) -> None:
    stack.channel([GPT], mock.base_url)
    who = stack.customer()
    names: list[str] = []
    # an `error` event ends it: the SDK raises the API's error, never a dropped connection or a hang
    with pytest.raises(anthropic.APIStatusError, match="broke off"):  # noqa: PT012
        with sdk_factory(who.key).messages.stream(
            model=GPT, max_tokens=100, messages=[{"role": "user", "content": "go [[len=20]] [[fault:cut_after=4]]"}]
        ) as stream:
            for event in stream:
                names.append(event.type)
    assert names[0] == "message_start"
    assert names.count("content_block_delta") == 4
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["status"] != "ok"


# ---- thinking across formats -----------------------------------------------------------------------


def test_openai_sdk_gets_claude_thinking_as_reasoning_content(stack: LocalStack, mock: MockServer) -> None:
    stack.channel([CLAUDE], mock.url, type="anthropic")
    who = stack.customer()
    client = stack.client(who.key)
    ask = [{"role": "user", "content": "think [[len=3]] [[reasoning=5]]"}]
    reply = client.chat.completions.create(model=CLAUDE, max_tokens=200, reasoning_effort="high", messages=ask)  # type: ignore[arg-type]
    sent = last_sent(mock, "/messages")
    assert sent["body"]["thinking"]["type"] in ("adaptive", "enabled")
    message = reply.choices[0].message
    assert len((message.content or "").split()) == 3  # the visible text only
    reasoning = (message.model_extra or {}).get("reasoning_content")
    assert isinstance(reasoning, str) and len(reasoning.split()) == 5
    assert reply.usage is not None and reply.usage.completion_tokens == sent["usage"]["output_tokens"] == 8
    chunks = list(
        client.chat.completions.create(
            model=CLAUDE,
            max_tokens=200,
            reasoning_effort="high",
            stream=True,
            messages=ask,  # type: ignore[arg-type]
        )
    )
    streamed = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in chunks if c.choices
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed.split() == reasoning.split() and text.split() == (message.content or "").split()


def test_anthropic_sdk_thinking_request_on_gpt_bills_reasoning_as_output(
    stack: LocalStack, mock: MockServer, sdk_factory: Any
) -> None:
    stack.channel([GPT], mock.base_url)
    who = stack.customer()
    message = sdk_factory(who.key).messages.create(
        model=GPT,
        max_tokens=2000,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "think [[len=4]] [[reasoning=6]]"}],
    )
    sent = last_sent(mock, "/chat/completions")
    assert "thinking" not in sent["body"]  # a Claude-only field never reaches an OpenAI upstream
    upstream = sent["usage"]
    assert message.usage.output_tokens == upstream["completion_tokens"] == 10  # reasoning included, as Claude
    assert [b.type for b in message.content] == ["text"]
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["charge"] == gpt_charge(upstream)
