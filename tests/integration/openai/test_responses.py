"""``/v1/responses`` through the real local stack with the official SDK: exact charges (cached, cache
writes, reasoning, tools, the image tool), stored responses on their channel and only for their owner,
a stream the client cuts, and the refusals. Test prices (tests/data/test-prices.json), micro-USD per
token: t-resp input 1, cached 0.1, cache write 1.25, output 4; web search $0.01 a call."""

from __future__ import annotations

import math
import time
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest
from tollway.money import ceil_micros
from tollway_local.mock import MockConfig, MockServer

from tests.support.stack import LocalStack, wait_until

pytestmark = pytest.mark.integration


def charge(uncached: int, cached: int, written: int, output: int) -> int:
    return ceil_micros((uncached + cached * Decimal("0.1") + written * Decimal("1.25") + output * 4) / 1_000_000)


def last_body(mock: MockServer) -> dict[str, Any]:
    body: dict[str, Any] = mock.stats()["requests_log"][-1]["body"]
    return body


def test_non_stream_and_stream_are_billed_at_the_reported_usage_with_cached_and_written_tokens(
    stack: LocalStack, mock: MockServer
) -> None:
    stack.channel(["t-resp"], mock.base_url)
    who = stack.customer()
    client = stack.client(who.key)
    text = "tell me [[prompt=2000]] [[cached=1200]] [[cache_write=300]] [[len=10]]"
    function = {"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}
    answer = client.responses.create(
        model="t-resp",
        input=text,
        max_output_tokens=100,
        metadata={"x": "y"},
        text={"format": {"type": "json_object"}},
        tools=[function],
        extra_body={"a_field_from_the_future": [1, 2]},
    )
    assert answer.usage is not None and answer.usage.input_tokens == 2000
    assert answer.usage.input_tokens_details.cached_tokens == 1200
    assert answer.usage.input_tokens_details.cache_write_tokens == 300
    assert len(answer.output_text.split()) == 10
    sent = last_body(mock)  # optional, structured and unknown fields pass through untouched
    assert sent["metadata"] == {"x": "y"} and sent["text"] == {"format": {"type": "json_object"}}
    assert sent["tools"] == [function] and sent["a_field_from_the_future"] == [1, 2]
    assert "max_tool_calls" not in sent  # a client-side tool needs no bound
    events = list(client.responses.create(model="t-resp", input=text, max_output_tokens=100, stream=True))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) == 10
    records = stack.wait_records(who.account_id, 2)
    expected = charge(2000 - 1200 - 300, 1200, 300, 10)
    assert expected == 500 + 120 + 375 + 40
    assert [r["charge"] for r in records] == [expected, expected]
    assert sorted(r["stream"] for r in records) == [False, True]
    assert all(r["endpoint"] == "responses" and r["usage_source"] == "upstream" for r in records)
    assert records[0]["tokens"] == {"input": 2000, "cached": 1200, "cache_write": 300, "output": 10}
    assert stack.audit(who.account_id)["ok"]


def test_reasoning_tokens_are_billed_as_output(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-resp-reason"], mock.base_url)
    who = stack.customer()
    answer = stack.client(who.key).responses.create(
        model="t-resp-reason", input="think [[prompt=100]] [[reasoning=40]] [[len=10]]", max_output_tokens=2000
    )
    assert answer.usage is not None and answer.usage.output_tokens_details.reasoning_tokens == 40
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["tokens"] == {"input": 100, "output": 50, "reasoning": 40}
    assert record["charge"] == 100 + 50 * 4


def test_the_output_limit_is_clamped_to_what_the_balance_pays_for(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-resp"], mock.base_url)
    who = stack.customer(credit_usd="0.002")
    stack.client(who.key).responses.create(model="t-resp", input="hi [[len=3]]")
    sent = last_body(mock)
    body_bytes = len(httpx.Request("POST", "http://x", json={"model": "t-resp", "input": "hi [[len=3]]"}).content)
    # No max_output_tokens: tollway set what $0.002 pays for after the input bound at 1.25 per byte.
    assert sent["max_output_tokens"] == math.floor((2000 - body_bytes * Decimal("1.25")) / 4)
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["hold"] <= 2000


def test_a_continuation_reaches_the_channel_holding_its_response_and_only_its_owner_sees_it(
    stack: LocalStack, mock: MockServer
) -> None:
    first = stack.channel(["t-resp"], mock.base_url, name="holder")
    owner, stranger = stack.customer(), stack.customer()
    client = stack.client(owner.key)
    created = client.responses.create(model="t-resp", input="remember this [[len=6]]", max_output_tokens=50)
    with MockServer(MockConfig.fast()) as other:
        # A better channel appears: new requests go there, the continuation stays on the holder.
        second = stack.channel(["t-resp"], other.base_url, name="preferred", priority=10)
        follow = client.responses.create(
            model="t-resp", input="and now? [[len=4]]", previous_response_id=created.id, max_output_tokens=50
        )
        fresh = client.responses.create(model="t-resp", input="new topic [[len=2]]", max_output_tokens=50)
        assert last_body(mock)["previous_response_id"] == created.id
        assert other.stats()["requests_total"] == 1 and last_body(other)["input"] == "new topic [[len=2]]"
    assert follow.usage is not None and created.usage is not None
    # The upstream counts the earlier turn into the continuation's input.
    assert follow.usage.input_tokens == (3 + 3 + 3) + created.usage.input_tokens + created.usage.output_tokens
    records = stack.wait_records(owner.account_id, 3)
    by_id = {r["request_id"]: r for r in records}
    assert sorted(r["channel_id"] for r in by_id.values()) == sorted([first, first, second])
    assert fresh.id != created.id
    fetched = client.responses.retrieve(created.id)
    assert fetched.id == created.id and fetched.output_text == created.output_text
    items = client.responses.input_items.list(created.id)
    assert items.data
    # Clients that raise are closed at once: their sockets must not wait for the garbage collector.
    with stack.client(stranger.key) as strange:
        with pytest.raises(openai.NotFoundError):
            strange.responses.retrieve(created.id)
        with pytest.raises(openai.NotFoundError):
            strange.responses.create(model="t-resp", input="x", previous_response_id=created.id)
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    client.close()
    assert len(stack.records(owner.account_id)) == 3  # reads write no usage record
    assert stack.audit(owner.account_id)["ok"]


def test_a_stream_cut_by_the_client_closes_the_upstream_and_bills_what_was_produced(
    stack: LocalStack, mock: MockServer
) -> None:
    # The upstream produces exactly 7 deltas, then stalls; the client reads 3 and hangs up.
    stack.channel(["t-resp-cut"], mock.fault_base_url("stall_after=7"))
    who = stack.customer()
    body = {"model": "t-resp-cut", "stream": True, "input": "write a long story [[len=50]]"}
    with (
        httpx.Client(timeout=30) as http,
        http.stream(
            "POST", f"{stack.url}/v1/responses", json=body, headers={"Authorization": f"Bearer {who.key}"}
        ) as r,
    ):
        assert r.status_code == 200
        request_id = r.headers["x-request-id"]
        seen = 0
        for line in r.iter_lines():
            if line.startswith("data: ") and "response.output_text.delta" in line:
                seen += 1
            if seen == 3:
                break
    stats = mock.wait_for(lambda s: s["streams_aborted"] == 1)  # the relay closed the upstream
    (logged,) = [e for e in stats["requests_log"] if e["path"].endswith("/responses")]
    assert logged["tokens_sent"] == 7
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["request_id"] == request_id and record["status"] == "client_closed"
    assert record["tokens"]["output"] == 7 and record["usage_source"] == "estimated"
    assert record["charge"] == record["tokens"]["input"] * 1 + 7 * 4 > 0
    time.sleep(0.3)
    assert len(stack.records(who.account_id)) == 1  # one record, not two
    assert not stack.open_holds(who.account_id)
    assert stack.audit(who.account_id)["ok"]


def test_web_search_calls_are_billed_per_call_and_bounded(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-resp"], mock.base_url)
    who = stack.customer()
    answer = stack.client(who.key).responses.create(
        model="t-resp", input="look it up [[prompt=100]] [[web_search=2]] [[len=3]]", tools=[{"type": "web_search"}]
    )
    assert [o.type for o in answer.output].count("web_search_call") == 2
    assert last_body(mock)["max_tool_calls"] == 4  # tollway's bound, set because the client sent none
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["units"]["tool_calls"] == {"web_search": 2}
    assert record["charge"] == 100 + 3 * 4 + 2 * 10_000


def test_the_image_tool_is_billed_from_its_own_usage_at_its_models_price(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-resp"], mock.base_url)
    who = stack.customer()
    tool = {"type": "image_generation", "model": "t-image-tool", "quality": "low"}
    answer = stack.client(who.key).responses.create(
        model="t-resp", input="draw [[prompt=100]] [[image_gen=1]] [[len=2]]", tools=[tool], max_tool_calls=1
    )
    assert [o.type for o in answer.output] == ["image_generation_call", "message"]
    (record,) = stack.wait_records(who.account_id, 1)
    # The model: 100 in, 2 out. The image: 50 text tokens at 5, 272 image tokens at 30.
    assert record["charge"] == 100 + 2 * 4 + 50 * 5 + 272 * 30
    assert record["units"]["images"] == 1


def test_refusals_cost_nothing_and_never_reach_the_upstream(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-resp-tools"], mock.base_url)
    who = stack.customer()
    with stack.client(who.key) as client:
        with pytest.raises(openai.BadRequestError) as unpriced:
            client.responses.create(
                model="t-resp-tools", input="x", tools=[{"type": "code_interpreter", "container": {"type": "auto"}}]
            )
        assert unpriced.value.code == "unpriced_tool"
        with pytest.raises(openai.BadRequestError) as background:
            client.responses.create(model="t-resp-tools", input="x", background=True)
        assert background.value.code == "unsupported_parameter"
        with pytest.raises(openai.NotFoundError):
            client.responses.create(model="t-embed", input="x")  # priced, but not for this endpoint
    records = wait_until(lambda: r if len(r := stack.records(who.account_id)) == 3 else None, what="3 records")
    assert all(r["status"] == "refused" and r["charge"] == 0 for r in records)
    assert mock.stats()["requests_total"] == 0
    assert stack.balance(who.account_id) == 1_000_000
