"""Money on Claude traffic, through the real relay and the mock's Anthropic dialect: cache reads and
5-minute/1-hour writes and the prompt-size tier billed exactly, the reservation's worst case, streams
without final usage, disconnects and broken streams by the rule, concurrent streams on a small balance,
and sticky routing measured by the upstream's cache reads."""

from __future__ import annotations

import json
import math
import threading
from typing import Any

import anthropic
import httpx
import pytest
from tollway_local.mock import MockServer
from tollway_local.mock.message_usage import expected_message_usage

from tests.integration.claude.conftest import claude_charge
from tests.support.stack import LocalStack

pytestmark = pytest.mark.integration


def request(model: str, text: str, **fields: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": 200, "messages": [{"role": "user", "content": text}], **fields}


def post(stack: LocalStack, key: str, body: dict[str, Any]) -> tuple[httpx.Response, bytes]:
    raw = json.dumps(body, separators=(",", ":")).encode()
    with httpx.Client(timeout=60) as http:
        response = http.post(
            f"{stack.url}/v1/messages",
            content=raw,
            headers={"x-api-key": key, "anthropic-version": "2023-06-01", "content-type": "application/json"},
        )
    return response, raw


def test_cache_reads_and_both_write_ttls_are_billed_at_their_own_prices(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-claude-cache"], mock.url, type="anthropic")
    who = stack.customer()
    body = request(
        "t-claude-cache",
        "go [[prompt=900]] [[cache_read=400]] [[cache_write_5m=200]] [[cache_write_1h=100]] [[len=7]] [[web_search=2]]",
    )
    response, raw = post(stack, who.key, body)
    assert response.status_code == 200, response.text
    usage = response.json()["usage"]
    assert usage == expected_message_usage(body)
    assert usage["cache_read_input_tokens"] == 400 and usage["cache_creation"]["ephemeral_1h_input_tokens"] == 100
    (record,) = stack.wait_records(who.account_id, 1)
    # 200 uncached × 1 + 200 × 1.25 + 100 × 2 + 400 × 0.1 + 7 × 4 + 2 searches × 10,000
    assert record["charge"] == claude_charge(usage) == 200 + 250 + 200 + 40 + 28 + 20_000
    assert record["tokens"] == {"input": 900, "cached": 400, "cache_write": 300, "cache_write_1h": 100, "output": 7}
    assert record["units"] == {"tool_calls": {"web_search": 2}}
    # The reservation priced the whole body at the dearest input class (1-hour write), plus the output
    # bound and the searches a web-search-less request cannot make (none here: no search tool declared).
    assert record["hold"] == math.ceil(len(raw) * 2 + 200 * 4)
    with httpx.Client(timeout=30) as http:
        logs = http.get(f"{stack.url}/api/usage/logs", headers={"authorization": f"Bearer {who.key}"}).json()
    (mine,) = logs["data"]
    assert mine["cache"] == {"reads": 400, "writes_5m": 200, "writes_1h": 100}
    assert mine["format"] == "native"


def test_prompt_size_tier_reprices_the_whole_request(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-claude-tier"], mock.url, type="anthropic")
    who = stack.customer()
    small = request("t-claude-tier", "go [[prompt=1000]] [[len=5]]")
    # A body of over 1,000 bytes: its input bound crosses the threshold, so the dearer tier is reserved.
    large = request("t-claude-tier", "go [[prompt=1001]] [[cache_read=300]] [[len=5]] " + "pad " * 250)
    for body in (small, large):
        response, _ = post(stack, who.key, body)
        assert response.status_code == 200, response.text
    records = sorted(stack.wait_records(who.account_id, 2), key=lambda r: r["created_at"])
    assert records[0]["charge"] == claude_charge(expected_message_usage(small)) == 1000 + 20
    # Above 1,000 prompt tokens (reads included) every token, output too, costs 5×.
    assert records[1]["charge"] == claude_charge(expected_message_usage(large), 5) == math.ceil((701 + 30 + 20) * 5)
    assert records[1]["hold"] >= records[1]["charge"] and records[1]["shortfall"] == 0


def test_stream_without_final_usage_is_estimated_never_free(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-claude-stream"], mock.url, type="anthropic")
    who = stack.customer()
    body = request("t-claude-stream", "go [[len=7]] [[fault:no_usage]]", stream=True)
    response, _ = post(stack, who.key, body)
    assert response.status_code == 200
    assert response.text.rstrip().endswith('data: {"type":"message_stop"}')
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["usage_source"] == "estimated" and record["status"] == "ok"
    usage = expected_message_usage(request("t-claude-stream", "go [[len=7]] [[fault:no_usage]]"))
    # Input from message_start (the upstream's own count); output = the 7 deltas delivered.
    assert record["charge"] == claude_charge({**usage, "output_tokens": 7}) > 0


def test_cut_stream_ends_with_an_error_event_and_costs_nothing(
    stack: LocalStack, mock: MockServer, sdk_factory: Any
) -> None:
    stack.channel(["t-claude-cut"], mock.url, type="anthropic")
    who = stack.customer()
    before = stack.balance(who.account_id)
    with (
        pytest.raises(anthropic.APIStatusError),
        sdk_factory(who.key).messages.stream(
            **request("t-claude-cut", "go [[len=20]] [[fault:cut_after=3]]")
        ) as stream,
    ):
        for _ in stream:
            pass
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["status"] == "error" and record["charge"] == 0
    assert stack.balance(who.account_id) == before


def test_client_disconnect_mid_stream_is_billed_for_what_was_produced(
    stack: LocalStack, paced_mock: MockServer
) -> None:
    stack.channel(["t-claude-stream"], paced_mock.url, type="anthropic")
    who = stack.customer()
    body = request("t-claude-stream", "go [[len=150]]", stream=True)
    seen = 0
    with (
        httpx.Client(timeout=60) as http,
        http.stream(
            "POST",
            f"{stack.url}/v1/messages",
            json=body,
            headers={"x-api-key": who.key, "anthropic-version": "2023-06-01"},
        ) as response,
    ):
        for line in response.iter_lines():
            seen += line.startswith("event: content_block_delta")
            if seen >= 5:
                break
    (record,) = stack.wait_records(who.account_id, 1, timeout_s=20)
    assert record["status"] == "client_closed"
    usage = expected_message_usage(request("t-claude-stream", "go [[len=150]]"))
    # The input (message_start's count) and at least the deltas the client read; never the full answer.
    assert claude_charge({**usage, "output_tokens": 5}) <= record["charge"] < claude_charge(usage)


def test_concurrent_streams_on_a_small_balance_never_overspend(stack: LocalStack, paced_mock: MockServer) -> None:
    stack.channel(["t-claude-race"], paced_mock.url, type="anthropic")
    who = stack.customer(credit_usd="0.003")
    statuses: list[int] = []

    def one() -> None:
        body = request("t-claude-race", "go [[len=40]]", stream=True, max_tokens=300)
        with httpx.Client(timeout=60) as http:
            response = http.post(
                f"{stack.url}/v1/messages", json=body, headers={"x-api-key": who.key, "anthropic-version": "2023-06-01"}
            )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 200 in statuses and set(statuses) <= {200, 402}
    records = stack.wait_records(who.account_id, 8)
    charged = sum(r["charge"] for r in records)
    balance = stack.balance(who.account_id)
    assert balance >= 0 and charged + balance == 3000
    assert not stack.open_holds(who.account_id)
    assert stack.audit(who.account_id)["ok"] is True


def test_sticky_routing_keeps_a_conversation_on_one_channel_and_its_cache(stack: LocalStack, mock: MockServer) -> None:
    mock.reset()
    first = stack.channel(["t-claude-sticky"], mock.url, type="anthropic", api_key="upstream-key-a")
    second = stack.channel(["t-claude-sticky"], mock.url, type="anthropic", api_key="upstream-key-b")
    who = stack.customer()
    system = [{"type": "text", "text": "rules " * 50, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    turns: list[dict[str, Any]] = []
    for n in range(4):
        body = {
            "model": "t-claude-sticky",
            "max_tokens": 50,
            "system": system,
            "metadata": {"user_id": "conversation-42"},
            "messages": [{"role": "user", "content": f"turn {n} [[len=3]]"}],
        }
        response, _ = post(stack, who.key, body)
        assert response.status_code == 200, response.text
        turns.append(response.json()["usage"])
    records = sorted(stack.wait_records(who.account_id, 4), key=lambda r: r["created_at"])
    held = {r["channel_id"] for r in records}
    assert len(held) == 1  # every turn on the channel that served the first
    assert turns[0]["cache_read_input_tokens"] == 0 and turns[0]["cache_creation_input_tokens"] > 0
    assert all(t["cache_read_input_tokens"] > 0 for t in turns[1:])  # the prefix cache is hit
    # The sticky channel fails: the conversation falls over to the other channel — where nothing is cached.
    stack.admin("channel.disable", channel_id=held.pop())
    response, _ = post(stack, who.key, {**body, "messages": [{"role": "user", "content": "turn 5 [[len=3]]"}]})
    assert response.status_code == 200
    assert response.json()["usage"]["cache_read_input_tokens"] == 0
    moved = max(stack.wait_records(who.account_id, 5), key=lambda r: r["created_at"])
    assert moved["channel_id"] in {first, second} - {records[0]["channel_id"]}
