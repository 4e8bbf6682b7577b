"""Channel failover, a key disabled behind a warm cache, CORS, and the base-URL habits of clients."""

from __future__ import annotations

import httpx
import openai
import pytest
from tollway.accounts.model import KeyChanges, KeyStatus
from tollway_local.mock import MockServer

from tests.support.stack import LocalStack

pytestmark = pytest.mark.integration


def test_5xx_then_success_on_a_second_channel_charges_once(stack: LocalStack, mock: MockServer) -> None:
    broken = stack.channel(["t-failover"], mock.fault_base_url("http503"), priority=10, name="broken")
    healthy = stack.channel(["t-failover"], mock.base_url, priority=0, name="healthy")
    who = stack.customer()
    reply = stack.client(who.key).chat.completions.create(
        model="t-failover", messages=[{"role": "user", "content": "hi [[len=8]]"}], max_tokens=8
    )
    assert reply.usage is not None and reply.usage.completion_tokens == 8
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["channel_id"] == healthy != broken
    assert record["attempts"] == 2 and record["status"] == "ok"
    assert record["charge"] > 0 and record["entry_ids"] == [f"{record['request_id']}#charge"]
    assert stack.balance(who.account_id) == 1_000_000 - record["charge"]
    assert stack.audit(who.account_id)["ok"]


def test_invalid_upstream_key_disables_the_channel_with_a_reason(stack: LocalStack, mock: MockServer) -> None:
    bad = stack.channel(["t-failover"], mock.fault_base_url("http401"), priority=10, name="bad key")
    stack.channel(["t-failover"], mock.base_url, name="good")
    who = stack.customer()
    stack.client(who.key).chat.completions.create(
        model="t-failover", messages=[{"role": "user", "content": "hi"}], max_tokens=4
    )
    (channel,) = [c for c in stack.admin("channel.list") if c["channel_id"] == bad]
    assert channel["status"] == "auto_disabled"
    assert "401" in channel["disabled_reason"]
    assert "api_key" not in channel and "test-upstream-key" not in str(channel)


def test_key_disabled_after_it_was_cached_is_refused(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-disable"], mock.base_url)
    who = stack.customer()
    client = stack.client(who.key)
    client.chat.completions.create(model="t-disable", messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    # Disable it from another process, as the admin function does on AWS: the relay's cache still holds
    # the key as active (an unlimited key: its reserve does not read the key item, the account's
    # key_rev moved by the change is what refuses the stale copy).
    stack.other_process_accounts().set_key_status(who.key_id, KeyStatus.DISABLED)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.chat.completions.create(model="t-disable", messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    assert caught.value.code == "key_disabled"
    records = stack.wait_records(who.account_id, 2)
    assert [r["status"] for r in records] == ["refused", "ok"]
    assert mock.stats()["requests"]["/v1/chat/completions"] == 1


def test_a_cached_key_revoked_or_limited_from_another_process_is_held_to_it(
    stack: LocalStack, mock: MockServer
) -> None:
    stack.channel(["t-disable"], mock.base_url)
    revoked, limited = stack.customer(), stack.customer()
    body = {"model": "t-disable", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    for who in (revoked, limited):
        stack.client(who.key).chat.completions.create(**body)  # cached by the relay
    other = stack.other_process_accounts()
    other.set_key_status(revoked.key_id, KeyStatus.REVOKED)
    other.update_key(limited.key_id, KeyChanges(remaining=1), now=0)

    with pytest.raises(openai.AuthenticationError):
        stack.client(revoked.key).chat.completions.create(**body)
    with pytest.raises(openai.APIStatusError) as short:
        stack.client(limited.key).chat.completions.create(**body)
    assert short.value.status_code == 402 and "key's limit" in str(short.value.message)
    for who in (revoked, limited):
        assert stack.open_holds(who.account_id) == []
        assert stack.audit(who.account_id)["ok"]
    assert mock.stats()["requests"]["/v1/chat/completions"] == 2


def test_cors_preflight_and_exposed_request_id(stack: LocalStack) -> None:
    with httpx.Client(timeout=30) as http:
        preflight = http.options(
            f"{stack.url}/v1/chat/completions",
            headers={
                "origin": "https://chat.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization,content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] in ("*", "https://chat.example")
        assert "POST" in preflight.headers["access-control-allow-methods"]
        listed = http.get(
            f"{stack.url}/v1/models",
            headers={"origin": "https://chat.example", "authorization": f"Bearer {stack.demo_key}"},
        )
        assert "x-request-id" in listed.headers["access-control-expose-headers"].lower()


@pytest.mark.parametrize("base", ["", "/v1", "/v1/chat/completions"])
def test_every_base_url_habit_reaches_chat(stack: LocalStack, mock: MockServer, base: str) -> None:
    stack.channel(["t-misc"], mock.base_url)
    who = stack.customer()
    with httpx.Client(timeout=30) as http:
        response = http.post(
            f"{stack.url}{base}/chat/completions",
            json={"model": "t-misc", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3},
            headers={"authorization": f"Bearer {who.key}"},
        )
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["completion_tokens"] == 3


def test_x_api_key_header_is_accepted(stack: LocalStack, mock: MockServer) -> None:
    with httpx.Client(timeout=30) as http:
        response = http.get(f"{stack.url}/models", headers={"x-api-key": stack.demo_key})
    assert response.status_code == 200
    assert response.json()["object"] == "list"


def test_unknown_fields_tools_n_and_logprobs_pass_through_untouched(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-misc"], mock.base_url)
    who = stack.customer()
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    reply = stack.client(who.key).chat.completions.create(
        model="t-misc",
        messages=[{"role": "user", "content": "hi [[len=4]]"}],
        max_tokens=4,
        n=3,
        logprobs=True,
        tools=tools,
        extra_body={"brand_new_field": {"x": 1}},
        reasoning_effort="low",
    )
    assert len(reply.choices) == 3
    sent = mock.stats()["requests_log"][-1]["body"]
    assert sent["brand_new_field"] == {"x": 1} and sent["tools"] == tools and sent["n"] == 3
    assert sent["logprobs"] is True and sent["reasoning_effort"] == "low" and sent["max_tokens"] == 4
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["tokens"]["output"] == 12  # 3 choices x 4 tokens
