"""Anthropic's Messages API through the relay, natively to an Anthropic channel (the mock's Anthropic
dialect), with the official ``anthropic`` SDK as the client: answers, streams, errors, count_tokens,
models, and each charge checked to the micro-USD."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import httpx
import pytest
from tollway_local.mock import MockServer
from tollway_local.mock.message_usage import count_input_tokens, expected_message_usage

from tests.integration.claude.conftest import claude_charge
from tests.support.stack import LocalStack

pytestmark = pytest.mark.integration

TOOL = {
    "name": "get_weather",
    "description": "the weather now",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def request(model: str, text: str, **fields: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": 200, "messages": [{"role": "user", "content": text}], **fields}


def test_non_stream_message_is_billed_exactly(stack: LocalStack, mock: MockServer, sdk_factory: Any) -> None:
    stack.channel(["t-claude"], mock.url, type="anthropic")
    who = stack.customer()
    body = request("t-claude", "hello there [[len=5]]")
    raw = sdk_factory(who.key).messages.with_raw_response.create(**body)
    message = raw.parse()
    assert message.stop_reason == "end_turn" and len(message.content[0].text.split()) == 5
    (record,) = stack.wait_records(who.account_id, 1)
    assert raw.headers["request-id"] == record["request_id"]
    usage = expected_message_usage(body)
    assert message.usage.model_dump(exclude_none=True) == usage
    assert record["charge"] == claude_charge(usage)
    assert record["format"] == "native" and record["usage_source"] == "upstream"
    sent = mock.stats()["requests_log"][-1]
    assert sent["path"] == "/v1/messages"
    assert sent["headers"]["x-api-key"] == "test-upstream-key"  # the channel's key, never the customer's
    assert who.key not in str(sent["headers"])


def test_stream_helpers_give_final_message_and_usage(stack: LocalStack, mock: MockServer, sdk_factory: Any) -> None:
    stack.channel(["t-claude-stream"], mock.url, type="anthropic")
    who = stack.customer()
    body = request("t-claude-stream", "go [[len=6]] [[reasoning=3]]", thinking={"type": "adaptive"})
    with sdk_factory(who.key).messages.stream(**body) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert len(text.split()) == 6
    assert [b.type for b in final.content] == ["thinking", "text"]
    usage = expected_message_usage(body)
    assert final.usage.output_tokens == usage["output_tokens"]
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["status"] == "ok" and record["stream"] is True
    assert record["charge"] == claude_charge(usage)
    assert record["tokens"]["output"] == usage["output_tokens"]


def test_tools_round_trip_keeps_ids(stack: LocalStack, mock: MockServer, sdk_factory: Any) -> None:
    stack.channel(["t-claude"], mock.url, type="anthropic")
    who = stack.customer()
    client = sdk_factory(who.key)
    first = client.messages.create(**request("t-claude", "weather? [[tool_use]]", tools=[TOOL]))
    assert first.stop_reason == "tool_use"
    call = next(b for b in first.content if b.type == "tool_use")
    follow = {
        "model": "t-claude",
        "max_tokens": 100,
        "tools": [TOOL],
        "messages": [
            {"role": "user", "content": "weather? [[tool_use]]"},
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}]},
        ],
    }
    second = client.messages.create(**follow)
    assert second.stop_reason == "end_turn"
    assert len(stack.wait_records(who.account_id, 2)) == 2


def test_errors_are_in_anthropics_shape(stack: LocalStack, mock: MockServer, sdk_factory: Any) -> None:
    stack.channel(["t-claude-errors"], mock.url, type="anthropic")
    with pytest.raises(anthropic.AuthenticationError) as bad_key:
        sdk_factory("sk-wrong").messages.create(**request("t-claude-errors", "hi"))
    assert bad_key.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    assert bad_key.value.response.headers["request-id"].startswith("req_")
    who = stack.customer()
    with pytest.raises(anthropic.NotFoundError) as unknown:
        sdk_factory(who.key).messages.create(**request("no-such-claude", "hi"))
    assert unknown.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    broke = stack.customer(credit_usd="0")
    with pytest.raises(anthropic.APIStatusError) as empty:
        sdk_factory(broke.key, max_retries=2).messages.create(**request("t-claude-errors", "hi"))
    assert empty.value.status_code == 402
    assert empty.value.body["error"]["type"] == "billing_error"  # type: ignore[index]
    assert empty.value.response.headers["x-should-retry"] == "false"
    with httpx.Client(timeout=30) as http:
        missing = http.post(
            f"{stack.url}/v1/messages",
            json={"model": "t-claude-errors", "messages": [{"role": "user", "content": "hi"}]},
            headers={"x-api-key": who.key},
        )
    assert missing.status_code == 400
    assert missing.json()["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in missing.json()["error"]["message"]


def test_overloaded_upstream_passes_529_through(stack: LocalStack, mock: MockServer, sdk_factory: Any) -> None:
    stack.channel(["t-claude-fail"], mock.fault_base_url("http529"), type="anthropic")
    who = stack.customer()
    with pytest.raises(anthropic.APIStatusError) as overloaded:
        sdk_factory(who.key).messages.create(**request("t-claude-fail", "hi"))
    assert overloaded.value.status_code == 529
    assert overloaded.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["charge"] == 0


def test_count_tokens_is_forwarded_and_never_charged(stack: LocalStack, mock: MockServer, sdk_factory: Any) -> None:
    stack.channel(["t-claude"], mock.url, type="anthropic")
    who = stack.customer()
    before = stack.balance(who.account_id)
    body = {"model": "t-claude", "messages": [{"role": "user", "content": "count these five words"}]}
    counted = sdk_factory(who.key).messages.count_tokens(**body)
    assert counted.input_tokens == count_input_tokens(body)
    sent = mock.stats()["requests_log"][-1]
    assert sent["path"] == "/v1/messages/count_tokens" and sent["body"]["model"] == "t-claude"
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["endpoint"] == "messages.count_tokens" and record["charge"] == 0
    assert stack.balance(who.account_id) == before


def test_models_in_anthropics_shape(stack: LocalStack, mock: MockServer, sdk_factory: Any) -> None:
    stack.channel(["t-claude"], mock.url, type="anthropic")
    who = stack.customer()
    client = sdk_factory(who.key)
    ids = [m.id for m in client.models.list(limit=1000)]
    assert "t-claude" in ids
    one = client.models.retrieve("t-claude")
    assert one.type == "model" and one.id == "t-claude"
    with httpx.Client(timeout=30) as http:
        openai_shape = http.get(f"{stack.url}/v1/models", headers={"authorization": f"Bearer {who.key}"}).json()
    assert openai_shape["object"] == "list"


def test_claude_code_probes_and_telemetry(stack: LocalStack) -> None:
    with httpx.Client(timeout=30) as http:
        assert http.head(f"{stack.url}/").status_code == 200
        assert http.head(f"{stack.url}/api/hello").status_code == 200
        dropped = http.post(f"{stack.url}/api/event_logging/batch", json={"events": [{"x": 1}]})
    assert dropped.status_code == 204


def test_count_tokens_is_rate_limited_like_any_call(stack: LocalStack, mock: MockServer, sdk_factory: Any) -> None:
    stack.channel(["t-claude"], mock.url, type="anthropic")
    who = stack.customer(rpm=2)
    if time.time() % 60 > 50:  # the three calls must fall in one fixed one-minute window
        time.sleep(61 - time.time() % 60)
    client = sdk_factory(who.key)
    body = {"model": "t-claude", "messages": [{"role": "user", "content": "count"}]}
    client.messages.count_tokens(**body)
    client.messages.count_tokens(**body)
    with pytest.raises(anthropic.RateLimitError) as limited:
        client.messages.count_tokens(**body)
    assert limited.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert 1 <= int(limited.value.response.headers["retry-after"]) <= 60


def test_count_tokens_is_estimated_without_an_anthropic_channel(
    stack: LocalStack, mock: MockServer, sdk_factory: Any
) -> None:
    stack.channel(["t-gpt-via-messages"], mock.base_url)
    who = stack.customer()
    before = len(mock.stats()["requests_log"])
    words = "one two three four five six seven eight " * 10
    counted = sdk_factory(who.key).messages.count_tokens(
        model="t-gpt-via-messages", messages=[{"role": "user", "content": words}]
    )
    assert 80 <= counted.input_tokens <= 200  # ≈4 characters a token
    assert len(mock.stats()["requests_log"]) == before  # no upstream call
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["charge"] == 0


def test_exhausted_credit_disables_the_channel_and_fails_over(
    stack: LocalStack, mock: MockServer, sdk_factory: Any
) -> None:
    broke = stack.channel(["t-claude-fail"], mock.fault_base_url("insufficient_quota"), type="anthropic", priority=5)
    healthy = stack.channel(["t-claude-fail"], mock.url, type="anthropic")
    who = stack.customer()
    message = sdk_factory(who.key).messages.create(**request("t-claude-fail", "hi [[len=2]]"))
    assert message.stop_reason == "end_turn"
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["channel_id"] == healthy and record["attempts"] == 2
    channels = {c["channel_id"]: c for c in stack.admin("channel.list")}
    assert channels[broke]["status"] == "auto_disabled"
    assert "credit" in channels[broke]["disabled_reason"]
