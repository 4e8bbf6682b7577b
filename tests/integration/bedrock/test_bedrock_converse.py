"""A ``bedrock`` channel through the real relay, with the official openai SDK: OpenAI chat requests go
to Bedrock's Converse / ConverseStream on the mock's Bedrock dialect (SigV4-signed, event-stream
frames with real CRCs). Prices of ``t-bedrock`` (tests/data/test-prices.json), micro-USD per token:
input 1, output 4."""

from __future__ import annotations

import math
from typing import Any

import openai
import pytest
from tollway_local.mock import MockServer

from tests.support.stack import LocalStack

pytestmark = pytest.mark.integration

NOVA = "amazon.nova-pro-v1:0"


def bedrock_channel(stack: LocalStack, mock: MockServer, *, fault: str = "", priority: int = 0) -> str:
    base = mock.url + (f"/fault/{fault}" if fault else "")
    return stack.channel(
        ["t-bedrock"],
        base,
        type="bedrock",
        api_key=None,
        model_map={"t-bedrock": NOVA},
        settings={"region": "us-east-1"},
        priority=priority,
        name=f"bedrock {fault or 'ok'}",
    )


def test_converse_answer_is_openai_shaped_and_billed_exactly(stack: LocalStack, mock: MockServer) -> None:
    channel = bedrock_channel(stack, mock)
    who = stack.customer()
    reply = stack.client(who.key).chat.completions.create(
        model="t-bedrock",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi there"}],
        max_tokens=6,
    )
    assert reply.model == NOVA and reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (4, 6)
    sent = mock.stats()["requests_log"][-1]
    assert sent["path"] == f"/model/{NOVA}/converse"
    assert sent["headers"]["authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
    assert sent["body"]["system"] == [{"text": "be brief"}] and sent["body"]["inferenceConfig"]["maxTokens"] == 6
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["channel_id"] == channel and record["status"] == "ok"
    assert record["charge"] == math.ceil(4 * 1 + 6 * 4) == 28
    assert stack.balance(who.account_id) == 1_000_000 - 28 and stack.audit(who.account_id)["ok"]


def test_converse_stream_forwards_chunks_and_bills_the_metadata_usage(stack: LocalStack, mock: MockServer) -> None:
    bedrock_channel(stack, mock)
    who = stack.customer()
    stream = stack.client(who.key).chat.completions.create(
        model="t-bedrock",
        messages=[{"role": "user", "content": "count"}],
        max_tokens=5,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    assert mock.stats()["requests_log"][-1]["path"] == f"/model/{NOVA}/converse-stream"
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["usage_source"] == "upstream" and record["charge"] == 1 * 1 + 5 * 4


def test_converse_tool_round_trip(stack: LocalStack, mock: MockServer) -> None:
    bedrock_channel(stack, mock)
    who = stack.customer()
    client = stack.client(who.key)
    tools = [{"type": "function", "function": {"name": "wx", "parameters": {"type": "object", "properties": {}}}}]
    messages: list = [{"role": "user", "content": "weather?"}]
    first = client.chat.completions.create(model="t-bedrock", messages=messages, tools=tools, max_tokens=8)
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert first.choices[0].finish_reason == "tool_calls" and call.function.name == "wx"
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    second = client.chat.completions.create(model="t-bedrock", messages=messages, tools=tools, max_tokens=8)
    assert second.choices[0].finish_reason in ("stop", "length") and second.choices[0].message.content
    sent = mock.stats()["requests_log"][-1]["body"]["messages"]
    assert sent[-1]["content"][0]["toolResult"]["toolUseId"] == call.id


def test_throttling_fails_over_to_the_next_channel(stack: LocalStack, mock: MockServer) -> None:
    throttled = bedrock_channel(stack, mock, fault="throttling", priority=10)
    healthy = stack.channel(["t-bedrock"], mock.base_url, name="openai-compatible")
    who = stack.customer()
    reply = stack.client(who.key).chat.completions.create(
        model="t-bedrock", messages=[{"role": "user", "content": "hi"}], max_tokens=4
    )
    assert reply.choices[0].message.content
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["channel_id"] == healthy != throttled and record["attempts"] == 2
    (channel,) = [c for c in stack.admin("channel.list") if c["channel_id"] == throttled]
    assert channel["status"] == "enabled"  # throttling never disables


def test_every_channel_throttled_is_a_429_and_nothing_is_charged(stack: LocalStack, mock: MockServer) -> None:
    bedrock_channel(stack, mock, fault="throttling")
    who = stack.customer()
    with pytest.raises(openai.RateLimitError):
        stack.client(who.key).chat.completions.create(
            model="t-bedrock", messages=[{"role": "user", "content": "hi"}], max_tokens=4
        )
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["charge"] == 0 and stack.balance(who.account_id) == 1_000_000


def test_access_denied_disables_the_channel_with_the_reason(stack: LocalStack, mock: MockServer) -> None:
    denied = bedrock_channel(stack, mock, fault="access_denied", priority=10)
    bedrock_channel(stack, mock)
    who = stack.customer()
    stack.client(who.key).chat.completions.create(
        model="t-bedrock", messages=[{"role": "user", "content": "hi"}], max_tokens=4
    )
    (channel,) = [c for c in stack.admin("channel.list") if c["channel_id"] == denied]
    assert channel["status"] == "auto_disabled"
    assert channel["disabled_reason"].startswith("Bedrock AccessDeniedException: You don't have access to the model")


def test_validation_is_a_400_with_bedrocks_message(stack: LocalStack, mock: MockServer) -> None:
    bedrock_channel(stack, mock, fault="validation")
    who = stack.customer()
    with pytest.raises(openai.BadRequestError) as caught:
        stack.client(who.key).chat.completions.create(
            model="t-bedrock", messages=[{"role": "user", "content": "hi"}], max_tokens=4
        )
    assert "mock validation fault" in str(caught.value.message)


def test_what_converse_cannot_carry_is_refused_before_any_call(stack: LocalStack, mock: MockServer) -> None:
    bedrock_channel(stack, mock)
    who = stack.customer()
    with pytest.raises(openai.BadRequestError) as caught:
        stack.client(who.key).chat.completions.create(
            model="t-bedrock", n=2, messages=[{"role": "user", "content": "hi"}], max_tokens=4
        )
    assert "Bedrock" in str(caught.value.message)
    assert mock.stats()["requests_total"] == 0


def test_a_cut_converse_stream_is_broken_not_free(stack: LocalStack, mock: MockServer) -> None:
    bedrock_channel(stack, mock)
    who = stack.customer()
    stream = stack.client(who.key).chat.completions.create(
        model="t-bedrock", messages=[{"role": "user", "content": "[[fault:cut]] go"}], max_tokens=8, stream=True
    )
    with pytest.raises(openai.APIError):
        list(stream)
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["status"] != "ok"


def test_channel_test_signs_a_converse_call(stack: LocalStack, mock: MockServer) -> None:
    ok = bedrock_channel(stack, mock)
    result = stack.admin("channel.test", channel_id=ok)
    assert result["ok"] is True and result["status"] == 200 and result["reply"]
    sent = mock.stats()["requests_log"][-1]
    assert sent["path"] == f"/model/{NOVA}/converse" and sent["headers"]["authorization"].startswith("AWS4-HMAC-SHA256")
    denied = bedrock_channel(stack, mock, fault="access_denied")
    failed = stack.admin("channel.test", channel_id=denied)
    assert failed["ok"] is False and failed["status"] == 403 and "access to the model" in failed["error"]


def test_the_anthropic_sdk_reaches_a_non_claude_model_through_converse(stack: LocalStack, mock: MockServer) -> None:
    import anthropic

    bedrock_channel(stack, mock)
    who = stack.customer()
    with anthropic.Anthropic(base_url=stack.url, api_key=who.key, max_retries=0) as client:
        message = client.messages.create(model="t-bedrock", max_tokens=6, messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].type == "text" and message.usage.output_tokens == 6
    assert mock.stats()["requests_log"][-1]["path"] == f"/model/{NOVA}/converse"
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["format"] == "converted" and record["charge"] == 1 + 6 * 4


def test_tollway_local_connects_a_bedrock_channel_to_its_mock(stack: LocalStack, sdk_factory: Any) -> None:
    (builtin,) = [c for c in stack.admin("channel.list") if c["channel_id"] == "bedrock"]
    assert builtin["type"] == "bedrock" and builtin["has_key"] is False
    assert "us.amazon.nova-lite-v1:0" in builtin["models"]
    assert "us.anthropic.claude-haiku-4-5-20251001-v1:0" in builtin["models"]
    who = stack.customer()
    reply = stack.client(who.key).chat.completions.create(
        model="us.amazon.nova-lite-v1:0", messages=[{"role": "user", "content": "hi"}], max_tokens=5
    )
    assert reply.choices[0].message.content
    message = sdk_factory(who.key).messages.create(
        model="us.anthropic.claude-haiku-4-5-20251001-v1:0",
        max_tokens=5,
        messages=[{"role": "user", "content": "hi"}],
    )
    assert message.content[0].type == "text"
    records = stack.wait_records(who.account_id, 2)
    assert {r["channel_id"] for r in records} == {"bedrock"} and all(r["charge"] > 0 for r in records)
