"""Invariant 3 (bounded worst case, clamp, minimal answer, shortfall) and exact token-class billing,
through the real relay. Prices (tests/data/test-prices.json), USD per 1M tokens: input 1.00, cached
0.10, cache write 1.25, output 4.00 — i.e. micro-USD per token: 1, 0.1, 1.25, 4."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import httpx
import pytest
from tollway_local.mock import MockServer

from tests.support.stack import LocalStack

pytestmark = pytest.mark.integration


def raw_chat(stack: LocalStack, key: str, body: bytes) -> httpx.Response:
    with httpx.Client(timeout=60) as http:
        return http.post(
            f"{stack.url}/v1/chat/completions",
            content=body,
            headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
        )


def body_of_length(length: int, **extra: object) -> bytes:
    """A chat body of exactly ``length`` bytes (the relay bounds input tokens by the body's bytes)."""
    base = {"model": "t-clamp", "messages": [{"role": "user", "content": ""}], **extra}
    pad = length - len(json.dumps(base, separators=(",", ":")).encode())
    assert pad >= 0
    base["messages"][0]["content"] = "a" * pad  # type: ignore[index]
    data = json.dumps(base, separators=(",", ":")).encode()
    assert len(data) == length
    return data


def affordable(balance: int, body_len: int) -> tuple[int, int]:
    """Hand arithmetic of the clamp: the dearest input class (cache write, 1.25/token) bounds the input."""
    fixed = Decimal(body_len) * Decimal("1.25")
    tokens = math.floor((Decimal(balance) - fixed) / 4)
    while math.ceil(fixed + 4 * tokens) > balance:
        tokens -= 1
    return tokens, math.ceil(fixed + 4 * tokens)


def test_no_output_limit_is_clamped_to_what_the_balance_pays_for(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-clamp"], mock.base_url)
    who = stack.customer(credit_usd="0.002")
    body = body_of_length(100)
    response = raw_chat(stack, who.key, body)
    assert response.status_code == 200, response.text
    tokens, hold = affordable(2000, 100)
    assert tokens == 468
    sent = mock.stats()["requests_log"][-1]["body"]
    assert sent["max_tokens"] == tokens  # not the model's 4,000: that would need $0.016
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["hold"] == hold
    assert stack.audit(who.account_id)["ok"]


def test_a_limit_the_balance_cannot_cover_is_lowered(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-clamp"], mock.base_url)
    who = stack.customer(credit_usd="0.002")
    response = raw_chat(stack, who.key, body_of_length(120, max_completion_tokens=3000))
    assert response.status_code == 200, response.text
    sent = mock.stats()["requests_log"][-1]["body"]
    assert sent["max_completion_tokens"] == affordable(2000, 120)[0]
    assert "max_tokens" not in sent  # the field the client used is the one lowered


def test_below_a_minimal_answer_is_402_before_any_upstream_call(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-clamp"], mock.base_url)
    poor = stack.customer(credit_usd="0.000185")  # 125 + 15 x 4: fifteen tokens, one short of sixteen
    response = raw_chat(stack, poor.key, body_of_length(100))
    assert response.status_code == 402
    assert mock.stats()["requests"] == {}
    enough = stack.customer(credit_usd="0.000189")  # exactly sixteen tokens
    response = raw_chat(stack, enough.key, body_of_length(100))
    assert response.status_code == 200
    assert mock.stats()["requests_log"][-1]["body"]["max_tokens"] == 16


def test_an_upstream_overrun_takes_only_the_balance_and_records_a_shortfall(
    stack: LocalStack, mock: MockServer
) -> None:
    stack.channel(["t-clamp"], mock.base_url)
    who = stack.customer(credit_usd="0.002")
    # The upstream claims 5,000 prompt tokens: far more than the request's bytes could hold.
    body = json.dumps(
        {
            "model": "t-clamp",
            "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi [[prompt=5000]] [[len=10]]"}],
        }
    ).encode()
    response = raw_chat(stack, who.key, body)
    assert response.status_code == 200
    assert response.json()["usage"]["prompt_tokens"] == 5000
    (record,) = stack.wait_records(who.account_id, 1)
    cost = 5000 * 1 + 10 * 4
    assert record["charge"] == 2000  # everything there was
    assert record["shortfall"] == cost - 2000
    assert stack.balance(who.account_id) == 0
    audit = stack.audit(who.account_id)
    assert audit["ok"], audit


def test_cached_cache_write_and_reasoning_tokens_are_billed_at_their_prices(
    stack: LocalStack, mock: MockServer
) -> None:
    stack.channel(["t-cache"], mock.base_url)
    who = stack.customer()
    content = "w " * 50 + "[[prompt=2000]] [[cached=1200]] [[cache_write=300]] [[reasoning=40]] [[len=10]]"
    reply = stack.client(who.key).chat.completions.create(
        model="t-cache", messages=[{"role": "user", "content": content}], max_tokens=100
    )
    usage = reply.usage
    assert usage is not None
    assert usage.prompt_tokens == 2000 and usage.completion_tokens == 50
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 1200
    assert usage.completion_tokens_details is not None and usage.completion_tokens_details.reasoning_tokens == 40
    # uncached = 2000 - 1200 - 300 = 500 at 1; cached 1200 at 0.1; writes 300 at 1.25;
    # output 50 (40 of them reasoning) at 4
    expected = math.ceil(500 + 1200 * Decimal("0.1") + 300 * Decimal("1.25") + 50 * 4)
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["charge"] == expected == 1195
    assert record["tokens"] == {"input": 2000, "cached": 1200, "cache_write": 300, "output": 50, "reasoning": 40}


def test_service_tier_reported_by_the_upstream_is_billed(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-cache"], mock.base_url)
    who = stack.customer()
    reply = stack.client(who.key).chat.completions.create(
        model="t-cache",
        messages=[{"role": "user", "content": "[[prompt=1000]] [[len=10]]"}],
        max_tokens=10,
        service_tier="flex",
    )
    assert reply.service_tier == "flex"
    (record,) = stack.wait_records(who.account_id, 1)
    base = 1000 * 1 + 10 * 4
    assert record["service_tier"] == "flex"
    assert record["charge"] == base // 2  # the flex multiplier, 0.5
    priority = stack.client(who.key).chat.completions.create(
        model="t-cache",
        messages=[{"role": "user", "content": "[[prompt=1000]] [[len=10]]"}],
        max_tokens=10,
        service_tier="priority",
    )
    assert priority.service_tier == "priority"
    records = stack.wait_records(who.account_id, 2)
    assert records[0]["charge"] == base * 2
