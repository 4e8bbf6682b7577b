"""Every status of the brief's error table that the chat route can give, each provoked for real.

Each refusal after authentication leaves exactly one usage record and costs nothing; a 401 leaves none.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from tollway_local.mock import LEAK_KEY, LEAK_URL, MockServer

from tests.support.stack import Customer, LocalStack, wait_until

pytestmark = pytest.mark.integration


def post(stack: LocalStack, key: str | None, body: Any, *, raw: bytes | None = None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    with httpx.Client(timeout=60) as http:
        if raw is not None:
            return http.post(f"{stack.url}/v1/chat/completions", content=raw, headers=headers)
        return http.post(f"{stack.url}/v1/chat/completions", json=body, headers=headers)


def chat(model: str = "t-errors", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10, **extra}


def assert_error(response: httpx.Response, status: int, etype: str, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    assert (body["type"], body["code"]) == (etype, code), body
    assert set(body) >= {"message", "type", "param", "code"}
    assert response.headers["x-request-id"].startswith("req_")
    return body


def assert_one_free_record(stack: LocalStack, who: Customer, response: httpx.Response, status: str) -> None:
    records = wait_until(lambda: stack.records(who.account_id), what="the record")
    (record,) = records
    assert record["request_id"] == response.headers["x-request-id"]
    assert record["status"] == status and record["http_status"] == response.status_code
    assert record["charge"] == 0
    assert not stack.open_holds(who.account_id)
    assert stack.audit(who.account_id)["ok"]


@pytest.fixture
def errors_channel(stack: LocalStack, mock: MockServer) -> MockServer:
    stack.channel(["t-errors"], mock.base_url)
    return mock


def test_400_malformed_json(stack: LocalStack, errors_channel: MockServer) -> None:
    who = stack.customer()
    response = post(stack, who.key, None, raw=b'{"model": "t-errors", "messages": [')
    assert_error(response, 400, "invalid_request_error", "invalid_json")
    assert_one_free_record(stack, who, response, "refused")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "t-errors"}, "messages"),
        ({"model": 7, "messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "t-errors", "messages": "hello"}, "messages"),
        ({**chat(), "max_tokens": "ten"}, "max_tokens"),
        ({**chat(), "stream": "yes"}, "stream"),
        ([1, 2, 3], None),
    ],
)
def test_400_wrong_types(stack: LocalStack, errors_channel: MockServer, body: Any, param: str | None) -> None:
    who = stack.customer()
    response = post(stack, who.key, body)
    error = assert_error(response, 400, "invalid_request_error", response.json()["error"]["code"])
    assert error["param"] == param
    assert_one_free_record(stack, who, response, "refused")
    assert errors_channel.stats()["requests"] == {}


def test_400_upstream_rejection_is_passed_through_cleaned(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-passthrough"], mock.fault_base_url("http400"))
    who = stack.customer()
    response = post(stack, who.key, chat("t-passthrough"))
    error = assert_error(response, 400, "invalid_request_error", "context_length_exceeded")
    assert error["param"] == "messages"
    assert "http://" not in error["message"] and "sk-" not in error["message"]
    assert_one_free_record(stack, who, response, "error")


@pytest.mark.parametrize("key", [None, "sk-" + "a" * 48, "sk-notatollwaykey", "Bearer-less"])
def test_401_missing_or_unknown_key_leaves_no_record(
    stack: LocalStack, errors_channel: MockServer, key: str | None
) -> None:
    # No record of any account started at or after this request: a window from just before it (reading
    # every record the session's stack holds costs seconds, and past 1,000 of them would prove nothing).
    since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    before = {r["request_id"] for r in stack.admin("usage.query", start=since, limit=1000)["records"]}
    response = post(stack, key, chat())
    assert_error(response, 401, "invalid_request_error", "invalid_api_key")
    assert {r["request_id"] for r in stack.admin("usage.query", start=since, limit=1000)["records"]} == before


def test_402_balance_too_small(stack: LocalStack, errors_channel: MockServer) -> None:
    who = stack.customer(credit_usd="0")
    response = post(stack, who.key, chat())
    assert_error(response, 402, "insufficient_quota", "insufficient_quota")
    assert_one_free_record(stack, who, response, "refused")
    assert errors_channel.stats()["requests"] == {}


def test_402_key_limit_even_with_money_on_the_account(stack: LocalStack, errors_channel: MockServer) -> None:
    who = stack.customer(credit_usd="5.00", limit_usd="0.000001")
    response = post(stack, who.key, chat())
    error = assert_error(response, 402, "insufficient_quota", "insufficient_quota")
    assert "key" in error["message"]
    assert_one_free_record(stack, who, response, "refused")


def test_403_key_disabled(stack: LocalStack, errors_channel: MockServer) -> None:
    who = stack.customer()
    stack.admin("key.disable", key_id=who.key_id)
    response = post(stack, who.key, chat())
    assert_error(response, 403, "permission_error", "key_disabled")
    assert_one_free_record(stack, who, response, "refused")


def test_403_key_expired(stack: LocalStack, errors_channel: MockServer) -> None:
    who = stack.customer(expires_at=1)
    response = post(stack, who.key, chat())
    assert_error(response, 403, "permission_error", "key_expired")
    assert_one_free_record(stack, who, response, "refused")


def test_403_account_disabled(stack: LocalStack, errors_channel: MockServer) -> None:
    who = stack.customer()
    stack.dynamodb().update_item(
        TableName="AccountsTable",
        Key={"account_id": {"S": who.account_id}},
        UpdateExpression="SET #s = :d",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":d": {"S": "disabled"}},
    )
    response = post(stack, who.key, chat())
    assert_error(response, 403, "permission_error", "account_disabled")
    assert_one_free_record(stack, who, response, "refused")


def test_403_model_not_allowed(stack: LocalStack, errors_channel: MockServer) -> None:
    who = stack.customer(models=["t-misc"])
    response = post(stack, who.key, chat())
    assert_error(response, 403, "permission_error", "model_not_allowed")
    assert_one_free_record(stack, who, response, "refused")


def test_403_ip_not_allowed(stack: LocalStack, errors_channel: MockServer) -> None:
    who = stack.customer(cidrs=["10.0.0.0/8"])
    response = post(stack, who.key, chat())
    assert_error(response, 403, "permission_error", "ip_not_allowed")
    assert_one_free_record(stack, who, response, "refused")


def test_404_unknown_or_unpriced_model(stack: LocalStack, errors_channel: MockServer) -> None:
    who = stack.customer()
    response = post(stack, who.key, chat("no-such-model"))
    error = assert_error(response, 404, "invalid_request_error", "model_not_found")
    assert error["param"] == "model"
    assert_one_free_record(stack, who, response, "refused")


@pytest.mark.parametrize("path", ["/v1/files", "/v1/batches/batch_1", "/v1/realtime/sessions", "/files"])
def test_404_unsupported_endpoints_say_so(stack: LocalStack, path: str) -> None:
    with httpx.Client(timeout=30) as http:
        response = http.post(f"{stack.url}{path}", headers={"authorization": f"Bearer {stack.demo_key}"})
    error = assert_error(response, 404, "invalid_request_error", "unsupported_endpoint")
    assert "not supported by this relay" in error["message"]


def test_413_body_over_the_limit_states_it(stack: LocalStack, errors_channel: MockServer) -> None:
    who = stack.customer()
    big = chat(messages=[{"role": "user", "content": "x" * 4_100_000}])
    response = post(stack, who.key, big)
    error = assert_error(response, 413, "invalid_request_error", "request_too_large")
    assert "4,000,000 bytes" in error["message"]
    assert_one_free_record(stack, who, response, "refused")


def test_429_when_every_channel_is_rate_limited_passes_retry_after(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-ratelimit"], mock.fault_base_url("http429"))
    stack.channel(["t-ratelimit"], mock.fault_base_url("http429"))
    who = stack.customer()
    response = post(stack, who.key, chat("t-ratelimit"))
    assert_error(response, 429, "rate_limit_error", "rate_limit_exceeded")
    assert response.headers["retry-after"] == "7"
    assert_one_free_record(stack, who, response, "error")


def test_502_when_every_channel_fails_and_no_upstream_text_leaks(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-allfail"], mock.fault_base_url("http500"), priority=5)
    stack.channel(["t-allfail"], mock.fault_base_url("http503"))
    who = stack.customer()
    response = post(stack, who.key, chat("t-allfail"))
    assert_error(response, 502, "upstream_error", "upstream_error")
    assert LEAK_KEY not in response.text and LEAK_URL not in response.text and "internal.mock" not in response.text
    assert_one_free_record(stack, who, response, "error")
    (record,) = stack.records(who.account_id)
    assert record["attempts"] == 2


def test_503_when_no_channel_serves_the_model(stack: LocalStack) -> None:
    who = stack.customer()
    response = post(stack, who.key, chat("t-nochannel"))
    assert_error(response, 503, "upstream_error", "no_available_channel")
    assert_one_free_record(stack, who, response, "refused")


def test_504_when_the_upstream_times_out(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-timeout"], mock.fault_base_url("timeout"), read_timeout_s=0.5)
    who = stack.customer()
    response = post(stack, who.key, chat("t-timeout"))
    assert_error(response, 504, "upstream_error", "upstream_timeout")
    assert_one_free_record(stack, who, response, "error")
