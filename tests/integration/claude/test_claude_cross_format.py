"""Cross-format through the relay: the ``openai`` SDK asking for a Claude-only model (converted for the
Anthropic channel) and the ``anthropic`` SDK asking for a GPT model (converted for an OpenAI-format
channel), streaming and not, tool turns, a cut stream — each billed by the upstream's own usage."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest
from tollway_local.mock import MockServer
from tollway_local.mock.message_usage import expected_message_usage
from tollway_local.mock.usage import expected_usage

from tests.integration.claude.conftest import claude_charge
from tests.support.stack import LocalStack

pytestmark = pytest.mark.integration

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "the weather now",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_openai_sdk_on_a_claude_model(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-claude-conv"], mock.url, type="anthropic")
    who = stack.customer()
    client = stack.client(who.key)
    reply = client.chat.completions.create(
        model="t-claude-conv",
        max_tokens=100,
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello [[len=4]]"}],
    )
    assert reply.choices[0].finish_reason == "stop"
    assert len((reply.choices[0].message.content or "").split()) == 4
    sent = mock.stats()["requests_log"][-1]
    assert sent["path"] == "/v1/messages" and sent["body"]["system"] == [{"type": "text", "text": "be brief"}]
    usage = expected_message_usage(sent["body"])
    assert reply.usage is not None and reply.usage.prompt_tokens == usage["input_tokens"]
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["format"] == "converted" and record["charge"] == claude_charge(usage)


def test_openai_sdk_stream_with_tool_calls_ends_properly(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-claude-conv"], mock.url, type="anthropic")
    who = stack.customer()
    chunks = list(
        stack.client(who.key).chat.completions.create(
            model="t-claude-conv",
            max_tokens=200,
            stream=True,
            stream_options={"include_usage": True},
            tools=[WEATHER],
            messages=[{"role": "user", "content": "weather in Paris? [[len=2]] [[tool_use]]"}],
        )
    )
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].index == 0 and calls[0].id and calls[0].function and calls[0].function.name == "get_weather"
    arguments = "".join(tc.function.arguments or "" for tc in calls if tc.function)
    assert arguments.startswith("{")
    assert chunks[-1].choices == [] and chunks[-1].usage is not None  # the usage chunk, then [DONE]
    sent = mock.stats()["requests_log"][-1]["body"]
    assert sent["tools"][0]["input_schema"]["required"] == ["city"]
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["charge"] == claude_charge(expected_message_usage(sent))
    # The tool result goes back as a tool_result with the same id; the mock checks the pairing.
    reply = stack.client(who.key).chat.completions.create(
        model="t-claude-conv",
        max_tokens=100,
        tools=[WEATHER],
        messages=[
            {"role": "user", "content": "weather in Paris? [[len=2]]"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": calls[0].id, "type": "function", "function": {"name": "get_weather", "arguments": arguments}}
                ],
            },
            {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny"},
        ],
    )
    assert reply.choices[0].finish_reason == "stop"


def test_openai_sdk_cut_claude_stream_raises_and_costs_nothing(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-claude-conv"], mock.url, type="anthropic")
    who = stack.customer()
    with pytest.raises(openai.APIError):
        for _ in stack.client(who.key).chat.completions.create(
            model="t-claude-conv",
            max_tokens=100,
            stream=True,
            messages=[{"role": "user", "content": "go [[len=20]] [[fault:cut_after=3]]"}],
        ):
            pass
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["charge"] == 0 and record["status"] == "error"


def test_unsupported_chat_field_is_a_clear_400(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-claude-conv"], mock.url, type="anthropic")
    who = stack.customer()
    with pytest.raises(openai.BadRequestError) as refused:
        stack.client(who.key).chat.completions.create(
            model="t-claude-conv", n=2, messages=[{"role": "user", "content": "hi"}]
        )
    assert "'n'" in refused.value.message


def test_anthropic_sdk_on_a_gpt_model(stack: LocalStack, mock: MockServer, sdk_factory: Any) -> None:
    stack.channel(["t-gpt-via-messages"], mock.base_url)
    who = stack.customer()
    client = sdk_factory(who.key)
    message = client.messages.create(
        model="t-gpt-via-messages",
        max_tokens=100,
        system="be brief",
        messages=[{"role": "user", "content": "hello [[len=5]] [[cached=4]]"}],
    )
    assert message.stop_reason == "end_turn" and len(message.content[0].text.split()) == 5  # type: ignore[union-attr]
    sent = mock.stats()["requests_log"][-1]
    assert sent["path"] == "/v1/chat/completions" and sent["body"]["messages"][0] == {
        "role": "system",
        "content": "be brief",
    }
    usage = expected_usage(sent["body"])
    # Claude's counts are additive: uncached = prompt − cached.
    assert message.usage.input_tokens == usage["prompt_tokens"] - 4 and message.usage.cache_read_input_tokens == 4
    (record,) = stack.wait_records(who.account_id, 1)
    prompt, out = usage["prompt_tokens"], usage["completion_tokens"]
    assert record["charge"] == -(-((prompt - 4) * 10 + 4 + out * 40) // 10)  # 1/token, cached 0.1, output 4


def test_anthropic_sdk_stream_on_a_gpt_model_and_tool_history(
    stack: LocalStack, mock: MockServer, sdk_factory: Any
) -> None:
    stack.channel(["t-gpt-via-messages"], mock.base_url)
    who = stack.customer()
    tool = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
    body: dict[str, Any] = {
        "model": "t-gpt-via-messages",
        "max_tokens": 100,
        "tools": [tool],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "messages": [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                    {"type": "text", "text": "so? [[len=6]]"},
                ],
            },
        ],
    }
    with client_stream(sdk_factory(who.key), body) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert len(text.split()) == 6 and final.stop_reason == "end_turn"
    sent = mock.stats()["requests_log"][-1]["body"]
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "tool", "user"]
    assert sent["messages"][1]["tool_calls"][0]["id"] == "toolu_1" and sent["messages"][2]["tool_call_id"] == "toolu_1"
    assert sent["parallel_tool_calls"] is False and sent["stream_options"] == {"include_usage": True}
    usage = expected_usage(sent)
    assert final.usage.output_tokens == usage["completion_tokens"]
    assert final.usage.input_tokens == usage["prompt_tokens"]  # message_delta carries the real count
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["format"] == "converted" and record["tokens"]["input"] == usage["prompt_tokens"]


def test_anthropic_sdk_cut_gpt_stream_gets_an_error_event(
    stack: LocalStack, mock: MockServer, sdk_factory: Any
) -> None:
    stack.channel(["t-gpt-via-messages"], mock.base_url)
    who = stack.customer()
    body = {
        "model": "t-gpt-via-messages",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "go [[len=20]] [[fault:cut_after=3]]"}],
    }
    with pytest.raises(anthropic.APIStatusError), client_stream(sdk_factory(who.key), body) as stream:
        for _ in stream:
            pass
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["charge"] == 0


def client_stream(client: anthropic.Anthropic, body: dict[str, Any]) -> Any:
    return client.messages.stream(**body)


def test_openai_sdk_parallel_tool_calls_and_a_refusal_from_claude(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-claude-conv"], mock.url, type="anthropic")
    who = stack.customer()
    other = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
    chunks = list(
        stack.client(who.key).chat.completions.create(
            model="t-claude-conv",
            max_tokens=300,
            stream=True,
            tools=[WEATHER, other],
            messages=[{"role": "user", "content": "both please [[tool_use=2]] [[len=1]]"}],
        )
    )
    starts = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or []) if tc.id]
    assert [(tc.index, tc.function.name if tc.function else None) for tc in starts] == [
        (0, "get_weather"),
        (1, "get_time"),
    ]
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]
    refused = stack.client(who.key).chat.completions.create(
        model="t-claude-conv", max_tokens=50, messages=[{"role": "user", "content": "no [[refusal]]"}]
    )
    assert refused.choices[0].finish_reason == "content_filter"
    streamed = list(
        stack.client(who.key).chat.completions.create(
            model="t-claude-conv", max_tokens=50, stream=True, messages=[{"role": "user", "content": "no [[refusal]]"}]
        )
    )
    assert [c.choices[0].finish_reason for c in streamed if c.choices and c.choices[0].finish_reason] == [
        "content_filter"
    ]
