"""Streaming through the real app with the official SDK: chunks arrive as the upstream produces them,
usage is hidden unless asked, the charge is the price of the upstream's usage."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
from tollway.money import ceil_micros
from tollway_local.mock import MockServer, expected_usage

from tests.support.stack import LocalStack, wait_until

pytestmark = pytest.mark.integration

IN, OUT = Decimal("1.00"), Decimal("4.00")  # t-stream's test prices, USD per 1M tokens


def price(usage: dict[str, int]) -> int:
    return ceil_micros((usage["prompt_tokens"] * IN + usage["completion_tokens"] * OUT) / 1_000_000)


def test_chunks_reach_the_client_while_the_upstream_is_still_producing(stack: LocalStack, mock: MockServer) -> None:
    # The mock sends 5 tokens, then holds the stream open: the client must see those 5 before any end.
    stack.channel(["t-stream"], mock.fault_base_url("stall_after=5"))
    who = stack.customer()
    stream = stack.client(who.key).chat.completions.create(
        model="t-stream", messages=[{"role": "user", "content": "go [[len=40]]"}], stream=True
    )
    seen = []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            seen.append(chunk.choices[0].delta.content)
        if len(seen) == 5:
            break
    assert len(seen) == 5
    assert mock.stats()["open_streams"] == 1  # the upstream has not finished: nothing was buffered
    stream.close()
    mock.wait_for(lambda s: s["streams_aborted"] == 1)


def test_usage_hidden_unless_asked_and_charge_is_the_upstream_usage(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-stream"], mock.base_url)
    who = stack.customer()
    client = stack.client(who.key)
    content = "count the stars tonight [[len=12]]"

    plain = list(
        client.chat.completions.create(model="t-stream", messages=[{"role": "user", "content": content}], stream=True)
    )
    assert all(c.usage is None for c in plain)
    assert all(c.choices for c in plain)  # the usage-only chunk tollway asked for was not forwarded
    text = "".join(c.choices[0].delta.content or "" for c in plain)
    assert text.split() and len(text.split()) == 12

    asked = list(
        client.chat.completions.create(
            model="t-stream",
            messages=[{"role": "user", "content": content}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert asked[-1].usage is not None and asked[-1].choices == []
    assert all(c.usage is None for c in asked[:-1])

    sent = [r["body"] for r in mock.stats()["requests_log"]]
    assert all(b["stream_options"]["include_usage"] is True for b in sent)  # forced upstream both times
    usage = expected_usage(sent[0])
    assert asked[-1].usage.prompt_tokens == usage["prompt_tokens"]
    records = stack.wait_records(who.account_id, 2)
    assert [r["charge"] for r in records] == [price(usage), price(usage)]
    assert all(r["stream"] and r["status"] == "ok" and r["usage_source"] == "upstream" for r in records)
    assert stack.audit(who.account_id)["ok"]


def test_client_disconnect_closes_upstream_and_bills_what_was_produced(stack: LocalStack, mock: MockServer) -> None:
    # The upstream produces exactly 7 tokens and then stalls; the client reads 3 and hangs up.
    stack.channel(["t-disconnect"], mock.fault_base_url("stall_after=7"))
    who = stack.customer()
    body = {"model": "t-disconnect", "stream": True, "messages": [{"role": "user", "content": "tell me [[len=50]]"}]}
    with (
        httpx.Client(timeout=30) as http,
        http.stream(
            "POST", f"{stack.url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {who.key}"}
        ) as response,
    ):
        assert response.status_code == 200
        request_id = response.headers["x-request-id"]
        events = 0
        for line in response.iter_lines():
            if line.startswith("data: ") and '"content"' in line:
                events += 1
            if events == 3:
                break
    stats = mock.wait_for(lambda s: s["streams_aborted"] == 1)  # the relay closed the upstream connection
    (logged,) = [r for r in stats["requests_log"] if r["path"].endswith("/chat/completions")]
    produced = logged["tokens_sent"]
    assert produced == 7
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["request_id"] == request_id
    assert record["status"] == "client_closed"
    assert record["tokens"]["output"] == produced
    assert record["usage_source"] == "estimated"
    expected = ceil_micros((record["tokens"]["input"] * IN + produced * OUT) / 1_000_000)
    assert record["charge"] == expected > 0
    assert not stack.open_holds(who.account_id)
    assert stack.audit(who.account_id)["ok"]


def test_broken_upstream_stream_costs_nothing_and_ends_with_an_error_event(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-broken"], mock.fault_base_url("malformed_sse_after=3"))
    who = stack.customer()
    body = {"model": "t-broken", "stream": True, "messages": [{"role": "user", "content": "x [[len=20]]"}]}
    with httpx.Client(timeout=30) as http:
        response = http.post(
            f"{stack.url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {who.key}"}
        )
    data = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    last = json.loads(data[-1])
    assert last["error"]["code"] == "upstream_error"
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["status"] == "error" and record["charge"] == 0
    assert stack.balance(who.account_id) == 1_000_000
    assert stack.audit(who.account_id)["ok"]


def test_upstream_cut_mid_stream_costs_nothing(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-broken"], mock.fault_base_url("cut_after=4"))
    who = stack.customer()
    client = stack.client(who.key)
    import openai

    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(
            model="t-broken", messages=[{"role": "user", "content": "y [[len=20]]"}], stream=True
        ):
            pass
    (record,) = wait_until(lambda: stack.records(who.account_id), what="record")
    assert record["status"] == "error" and record["charge"] == 0
    assert stack.balance(who.account_id) == 1_000_000
