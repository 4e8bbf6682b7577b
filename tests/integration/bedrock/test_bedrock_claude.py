"""Claude on a ``bedrock`` channel through the real relay: the official anthropic SDK natively
(InvokeModel / InvokeModelWithResponseStream with the Anthropic body) and the openai SDK converted
(OpenAI chat → Messages → InvokeModel), cache tokens and tools, failover and estimation. Prices of
``t-bedrock-claude`` (tests/data/test-prices.json), micro-USD per token: input 1, 5-minute write 1.25,
1-hour write 2, cache read 0.1, output 4."""

from __future__ import annotations

import uuid
from typing import Any

import anthropic
import pytest
from tollway_local.mock import MockServer

from tests.integration.claude.conftest import claude_charge
from tests.support.stack import LocalStack

pytestmark = pytest.mark.integration

CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
MODEL = "t-bedrock-claude"
TOOL = {"name": "get_weather", "description": "weather", "input_schema": {"type": "object", "properties": {}}}


def bedrock_channel(stack: LocalStack, mock: MockServer, *, fault: str = "", priority: int = 0) -> str:
    return stack.channel(
        [MODEL],
        mock.url + (f"/fault/{fault}" if fault else ""),
        type="bedrock",
        api_key=None,
        model_map={MODEL: CLAUDE},
        settings={"region": "us-west-2"},
        priority=priority,
        name=f"bedrock claude {fault or 'ok'}",
    )


def body(text: str, **fields: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 7, "messages": [{"role": "user", "content": text}], **fields}


def test_native_message_goes_to_invoke_and_is_billed_exactly(
    stack: LocalStack, mock: MockServer, sdk_factory: Any
) -> None:
    channel = bedrock_channel(stack, mock)
    who = stack.customer()
    message = sdk_factory(who.key).messages.create(
        **body("hello there"), extra_headers={"anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14"}
    )
    assert message.type == "message" and message.content[0].type == "text" and message.stop_reason == "max_tokens"
    sent = mock.stats()["requests_log"][-1]
    assert sent["path"] == f"/model/{CLAUDE}/invoke"
    assert "/us-west-2/bedrock/aws4_request" in sent["headers"]["authorization"]
    assert sent["body"]["anthropic_version"] == "bedrock-2023-05-31" and "model" not in sent["body"]
    assert sent["body"]["anthropic_beta"] == ["interleaved-thinking-2025-05-14"]  # Claude Code's flag dropped
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["channel_id"] == channel and record["format"] == "native"
    assert record["charge"] == claude_charge(message.usage.model_dump()) == 2 + 7 * 4


def test_native_stream_helpers_and_usage(stack: LocalStack, mock: MockServer, sdk_factory: Any) -> None:
    bedrock_channel(stack, mock)
    who = stack.customer()
    with sdk_factory(who.key).messages.stream(**body("stream this please")) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.usage.output_tokens == 7 and final.usage.input_tokens == 3
    assert mock.stats()["requests_log"][-1]["path"] == f"/model/{CLAUDE}/invoke-with-response-stream"
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["usage_source"] == "upstream" and record["charge"] == 3 + 7 * 4


def test_cache_writes_and_reads_are_billed_at_their_own_prices(
    stack: LocalStack, mock: MockServer, sdk_factory: Any
) -> None:
    bedrock_channel(stack, mock)
    who = stack.customer()
    client = sdk_factory(who.key)
    marker = uuid.uuid4().hex  # the mock's cache lives as long as the process
    system = [{"type": "text", "text": f"{marker} policy " * 10, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    first = client.messages.create(**body("question one", system=system))
    second = client.messages.create(**body("question two", system=system))
    assert first.usage.cache_creation_input_tokens == 20 and first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == 20 and second.usage.cache_creation_input_tokens == 0
    records = sorted(stack.wait_records(who.account_id, 2), key=lambda r: r["created_at"])
    # first: 2 uncached + 20 one-hour writes at 2 + 7 output at 4; second: 2 + 20 reads at 0.1 + 28.
    assert [r["charge"] for r in records] == [2 + 40 + 28, 2 + 2 + 28]
    assert [r["charge"] for r in records] == [
        claude_charge(first.usage.model_dump()),
        claude_charge(second.usage.model_dump()),
    ]


def test_native_tool_round_trip(stack: LocalStack, mock: MockServer, sdk_factory: Any) -> None:
    bedrock_channel(stack, mock)
    who = stack.customer()
    client = sdk_factory(who.key)
    first = client.messages.create(**body("weather?", tools=[TOOL]))
    (use,) = [b for b in first.content if b.type == "tool_use"]
    assert first.stop_reason == "tool_use" and use.name == "get_weather"
    turns = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]},
    ]
    second = client.messages.create(model=MODEL, max_tokens=7, messages=turns, tools=[TOOL])
    assert second.stop_reason != "tool_use" and second.content[0].type == "text"


def test_openai_format_is_converted_to_messages_and_invoked(stack: LocalStack, mock: MockServer) -> None:
    bedrock_channel(stack, mock)
    who = stack.customer()
    client = stack.client(who.key)
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi there"}], max_tokens=7
    )
    assert reply.choices[0].message.content and reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 7
    sent = mock.stats()["requests_log"][-1]
    assert sent["path"] == f"/model/{CLAUDE}/invoke" and sent["body"]["messages"][0]["role"] == "user"
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi again"}],
            max_tokens=7,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 7
    records = stack.wait_records(who.account_id, 2)
    assert {r["format"] for r in records} == {"converted"} and all(r["charge"] == 2 + 28 for r in records)


def test_throttled_bedrock_fails_over_to_an_anthropic_channel(
    stack: LocalStack, mock: MockServer, sdk_factory: Any
) -> None:
    throttled = bedrock_channel(stack, mock, fault="throttling", priority=10)
    anthropic_channel = stack.channel([MODEL], mock.url, type="anthropic", name="anthropic")
    who = stack.customer()
    message = sdk_factory(who.key).messages.create(**body("hello"))
    assert message.content
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["channel_id"] == anthropic_channel != throttled and record["attempts"] == 2


def test_access_denied_disables_the_claude_channel(stack: LocalStack, mock: MockServer, sdk_factory: Any) -> None:
    denied = bedrock_channel(stack, mock, fault="access_denied", priority=10)
    bedrock_channel(stack, mock)
    who = stack.customer()
    sdk_factory(who.key).messages.create(**body("hello"))
    (channel,) = [c for c in stack.admin("channel.list") if c["channel_id"] == denied]
    assert channel["status"] == "auto_disabled" and "AccessDeniedException" in channel["disabled_reason"]


def test_a_cut_stream_is_a_broken_upstream_and_costs_nothing(
    stack: LocalStack, mock: MockServer, sdk_factory: Any
) -> None:
    bedrock_channel(stack, mock)
    who = stack.customer()
    received: list[str] = []

    def read() -> None:
        with sdk_factory(who.key).messages.stream(**body("[[fault:cut]] count")) as stream:
            received.extend(stream.text_stream)

    with pytest.raises(anthropic.APIError):
        read()
    assert received  # chunks were forwarded as they came, before the cut
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["error_code"] == "upstream_stream_broken" and record["charge"] == 0
    assert stack.balance(who.account_id) == 1_000_000 and stack.audit(who.account_id)["ok"]


def test_a_stream_without_final_usage_is_estimated_never_free(
    stack: LocalStack, mock: MockServer, sdk_factory: Any
) -> None:
    bedrock_channel(stack, mock)
    who = stack.customer()
    events = list(sdk_factory(who.key).messages.create(**body("[[fault:no_usage]] count"), stream=True))
    assert events[-1].type == "message_stop"
    deltas = [e for e in events if e.type == "content_block_delta"]
    assert len(deltas) == 7
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["usage_source"] == "estimated" and record["charge"] > 0


def test_count_tokens_for_a_bedrock_only_model_is_estimated(
    stack: LocalStack, mock: MockServer, sdk_factory: Any
) -> None:
    bedrock_channel(stack, mock)
    who = stack.customer()
    counted = sdk_factory(who.key).messages.count_tokens(
        model=MODEL, messages=[{"role": "user", "content": "how many tokens is this"}]
    )
    assert counted.input_tokens > 0
    assert not [r for r in mock.stats()["requests_log"] if "/model/" in r["path"]]  # no call to Bedrock


def test_openai_tool_turns_reach_claude_on_bedrock_and_close(stack: LocalStack, mock: MockServer) -> None:
    bedrock_channel(stack, mock)
    who = stack.customer()
    client = stack.client(who.key)
    tools: Any = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    messages: Any = [{"role": "user", "content": "weather?"}]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=tools, max_tokens=7)
    (call,) = first.choices[0].message.tool_calls or []
    assert first.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    chunks = list(
        client.chat.completions.create(model=MODEL, messages=messages, tools=tools, max_tokens=7, stream=True)
    )
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    sent = mock.stats()["requests_log"][-1]["body"]["messages"]
    assert sent[-1]["content"][0] == {"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}


def test_a_frame_with_a_bad_checksum_breaks_the_stream_and_costs_nothing(
    stack: LocalStack, mock: MockServer, sdk_factory: Any
) -> None:
    bedrock_channel(stack, mock)
    who = stack.customer()
    events = []
    with pytest.raises(anthropic.APIError):  # noqa: PT012 - the error surfaces while iterating
        for event in sdk_factory(who.key).messages.create(**body("[[fault:bad_crc]] count"), stream=True):
            events.append(event.type)
    assert "message_start" in events and "message_stop" not in events
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["error_code"] == "upstream_stream_broken" and record["charge"] == 0
