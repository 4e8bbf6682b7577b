"""Per-key guards and account status through the real relay: 402 naming the limit or cap even when the
account has money, 403 on the next request of a disabled account's key, 429 + Retry-After for the
request rate and for concurrency — each refusal recorded, nothing charged, the audit clean."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from tollway_local.mock import MockServer

from tests.support.stack import Customer, LocalStack, wait_until

pytestmark = pytest.mark.integration


def chat(stack: LocalStack, key: str, content: str = "hi [[len=4]]", **extra: Any) -> httpx.Response:
    body = {"model": "t-guard", "messages": [{"role": "user", "content": content}], "max_tokens": 20, **extra}
    with httpx.Client(timeout=60) as http:
        return http.post(f"{stack.url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})


def error_of(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    return str(error["message"])


def refusal_recorded(stack: LocalStack, who: Customer, response: httpx.Response) -> None:
    rid = response.headers["x-request-id"]
    record = wait_until(
        lambda: next((r for r in stack.records(who.account_id) if r["request_id"] == rid), None), what="the record"
    )
    assert record["status"] == "refused" and record["http_status"] == response.status_code and record["charge"] == 0


@pytest.fixture
def guard_channel(stack: LocalStack, mock: MockServer) -> MockServer:
    stack.channel(["t-guard"], mock.base_url)
    return mock


def test_a_key_over_its_own_limit_or_spend_cap_gets_402_though_the_account_has_money(
    stack: LocalStack, guard_channel: MockServer
) -> None:
    limited = stack.customer(credit_usd="5.00", limit_usd="0.0001")
    message = error_of(chat(stack, limited.key), 402, "insufficient_quota")
    assert "key's limit" in message
    refusal_recorded(stack, limited, chat(stack, limited.key))

    # t-guard: 1 micro-USD per input token (bounded by the body's ≈90 bytes), 4 per output token.
    capped = stack.customer(credit_usd="5.00", daily_cap_usd="0.0003")
    first = chat(stack, capped.key, "go [[len=40]]", max_tokens=40)  # holds ≈ 90 + 160 of the 300
    assert first.status_code == 200, first.text
    # It cost ≈ 8 + 160: what is left of today's cap (≈ 130) no longer covers even a minimal answer
    # (≈ 90 + 16 × 4), though the account holds $5.
    refused = chat(stack, capped.key, "go [[len=40]]", max_tokens=40)
    message = error_of(refused, 402, "insufficient_quota")
    assert "daily spend cap of $0.0003" in message
    refusal_recorded(stack, capped, refused)
    assert stack.balance(capped.account_id) > 4_990_000  # the account had (and has) money
    assert stack.audit(capped.account_id)["ok"]


def test_a_disabled_accounts_key_is_refused_403_on_its_next_request(
    stack: LocalStack, guard_channel: MockServer
) -> None:
    who = stack.customer()
    assert chat(stack, who.key).status_code == 200  # the key is now in the relay's cache
    stack.admin("account.disable", account_id=who.account_id)
    refused = chat(stack, who.key)
    error_of(refused, 403, "account_disabled")
    refusal_recorded(stack, who, refused)
    stack.admin("account.enable", account_id=who.account_id)
    assert chat(stack, who.key).status_code == 200
    assert stack.audit(who.account_id)["ok"]


def test_a_key_over_its_request_rate_gets_429_with_retry_after(stack: LocalStack, guard_channel: MockServer) -> None:
    who = stack.customer(rpm=2)
    # Three requests must fall in one fixed one-minute window: start well inside one.
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)
    assert chat(stack, who.key).status_code == 200
    assert chat(stack, who.key).status_code == 200
    third = chat(stack, who.key)
    error_of(third, 429, "rate_limit_exceeded")
    assert third.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(third.headers["retry-after"]) <= 60
    refusal_recorded(stack, who, third)
    assert stack.audit(who.account_id)["ok"]


def test_a_concurrency_lease_is_released_when_the_stream_ends_even_by_disconnect(
    stack: LocalStack, mock: MockServer
) -> None:
    stack.channel(["t-guard"], mock.fault_base_url("stall_after=5"))
    who = stack.customer(concurrency=1)
    with stack.client(who.key) as client:
        stream = client.chat.completions.create(
            model="t-guard", messages=[{"role": "user", "content": "go [[len=40]]"}], stream=True
        )
        first = next(iter(stream))  # the stream is open: the key's only slot is taken
        assert first.id
        busy = chat(stack, who.key)
        error_of(busy, 429, "rate_limit_exceeded")
        assert busy.headers["retry-after"] == "1"
        stream.close()  # the client goes away mid-answer: settle runs anyway and gives the slot back
    wait_until(
        lambda: stack.admin("key.get", key_id=who.key_id)["guard_state"] == {"inflight": 0}, what="the lease back"
    )
    records = wait_until(lambda: [r for r in stack.records(who.account_id) if r["status"] == "client_closed"] or None)
    assert len(records) == 1
    assert stack.audit(who.account_id)["ok"]
