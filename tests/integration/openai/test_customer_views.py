"""What a customer sees with only their key — and only their own: the billing shapes NextChat reads
(bare and /v1), the key's limit and spend, prices at the group's ratio, and every usage record, with
filters and pagination; two accounts never see each other's records."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from tollway_local.mock import MockServer

from tests.support.stack import Customer, LocalStack

pytestmark = pytest.mark.integration


def get(stack: LocalStack, key: str, path: str, **params: Any) -> httpx.Response:
    with httpx.Client(timeout=30) as http:
        return http.get(f"{stack.url}{path}", params=params, headers={"Authorization": f"Bearer {key}"})


def chat(stack: LocalStack, who: Customer, model: str = "t-views", words: int = 3) -> str:
    """One call; returns its X-Request-Id."""
    raw = stack.client(who.key).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": f"hi [[prompt=100]] [[len={words}]]"}], max_tokens=50
    )
    return str(raw.headers["x-request-id"])


def allow_account_scope(stack: LocalStack, key_id: str) -> None:
    """The operator's permission, set on the key item (key.update does not edit settings yet)."""
    db = stack.dynamodb()
    (item,) = db.query(
        TableName="KeysTable",
        IndexName="by_key_id",
        KeyConditionExpression="key_id = :k",
        ExpressionAttributeValues={":k": {"S": key_id}},
    )["Items"]
    db.update_item(
        TableName="KeysTable",
        Key={"key_hash": item["key_hash"]},
        UpdateExpression="SET settings = :s",
        ExpressionAttributeValues={":s": {"S": json.dumps({"usage_scope": "account"})}},
    )


def test_two_accounts_see_exactly_their_own_records(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-views", "t-views-other"], mock.base_url)
    alice = stack.customer()
    alice_second = stack.admin("key.create", account_id=alice.account_id)
    alice2 = Customer(alice.account_id, alice_second["key"], alice_second["key_id"])
    bob = stack.customer()
    mine = [chat(stack, alice), chat(stack, alice, "t-views-other")]
    other_key = chat(stack, alice2)
    bobs = chat(stack, bob)
    stack.wait_records(alice.account_id, 3)
    stack.wait_records(bob.account_id, 1)

    logs = get(stack, alice.key, "/api/usage/logs").json()
    assert [r["request_id"] for r in logs["data"]] == list(reversed(mine))  # newest first, this key only
    first = logs["data"][0]
    assert set(first) >= {"time", "model", "tokens", "charge", "charge_usd", "latency_ms", "status", "request_id"}
    assert "channel_id" not in first and "upstream_model" not in first and "hold" not in first
    assert get(stack, bob.key, "/api/usage/logs").json()["data"][0]["request_id"] == bobs

    # Account scope needs the operator's permission, and never reaches another account.
    denied = get(stack, alice.key, "/api/usage/logs", scope="account")
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "scope_not_allowed"
    allow_account_scope(stack, alice.key_id)
    everything = get(stack, alice.key, "/api/usage/logs", scope="account").json()["data"]
    assert sorted(r["request_id"] for r in everything) == sorted([*mine, other_key])
    assert bobs not in {r["request_id"] for r in everything}

    # An X-Request-Id finds its record — for its owner only.
    assert get(stack, alice.key, "/api/usage/logs", request_id=mine[0]).json()["data"][0]["request_id"] == mine[0]
    assert get(stack, alice.key, "/api/usage/logs", request_id=bobs).json()["data"] == []
    assert get(stack, alice2.key, "/api/usage/logs", request_id=mine[0]).json()["data"] == []

    # Filters and pagination.
    only = get(stack, alice.key, "/api/usage/logs", model="t-views-other").json()["data"]
    assert [r["request_id"] for r in only] == [mine[1]]
    page = get(stack, alice.key, "/api/usage/logs", limit=1).json()
    assert page["has_more"] and len(page["data"]) == 1
    rest = get(stack, alice.key, "/api/usage/logs", limit=1, cursor=page["next_cursor"]).json()
    assert [r["request_id"] for r in rest["data"]] == [mine[0]] and not rest["has_more"]
    future = get(stack, alice.key, "/api/usage/logs", start="2999-01-01").json()["data"]
    assert future == []

    # The spend views add up the same records, per key.
    charges = {r["request_id"]: r["charge"] for r in stack.records(alice.account_id)}
    usage = get(stack, alice.key, "/dashboard/billing/usage").json()
    assert Decimal(str(usage["total_usage"])) == Decimal(charges[mine[0]] + charges[mine[1]]) / 10_000  # cents
    assert get(stack, bob.key, "/v1/dashboard/billing/usage").json()["total_usage"] > 0
    assert stack.audit(alice.account_id)["ok"] and stack.audit(bob.account_id)["ok"]


def test_the_billing_shapes_nextchat_reads_at_both_prefixes(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-views"], mock.base_url)
    who = stack.customer(credit_usd="5.00")
    chat(stack, who)
    (record,) = stack.wait_records(who.account_id, 1)
    balance = stack.balance(who.account_id)
    for prefix in ("", "/v1"):
        sub = get(stack, who.key, f"{prefix}/dashboard/billing/subscription").json()
        assert sub["object"] == "billing_subscription"
        assert Decimal(str(sub["hard_limit_usd"])) == Decimal(balance) / 1_000_000  # unlimited key: the balance
        usage = get(stack, who.key, f"{prefix}/dashboard/billing/usage", start_date="2020-01-01", end_date="2999-01-01")
        assert Decimal(str(usage.json()["total_usage"])) == Decimal(record["charge"]) / 10_000
    unauthorized = get(stack, "sk-not-a-key", "/dashboard/billing/usage")
    assert unauthorized.status_code == 401 and "error" in unauthorized.json()


def test_a_limited_keys_limit_used_and_remaining(stack: LocalStack, mock: MockServer) -> None:
    stack.channel(["t-views"], mock.base_url)
    who = stack.customer(credit_usd="5.00", limit_usd="0.50", expires_at=4_102_444_800)
    chat(stack, who)
    chat(stack, who)
    records = stack.wait_records(who.account_id, 2)
    used = sum(r["charge"] for r in records)
    token = get(stack, who.key, "/api/usage/token").json()
    assert token["unlimited"] is False and token["expires_at"] == 4_102_444_800
    assert token["used"] == used and token["remaining"] == 500_000 - used and token["limit"] == 500_000
    sub = get(stack, who.key, "/dashboard/billing/subscription").json()
    assert sub["hard_limit_usd"] == 0.5 and sub["access_until"] == 4_102_444_800


def test_pricing_lists_the_keys_models_at_its_groups_ratio(stack: LocalStack, mock: MockServer) -> None:
    stack.admin("group.set", name="vip-views", ratio="0.8")
    stack.channel(["t-views", "t-views-other"], mock.base_url, groups=["default", "vip-views"])
    who = stack.customer(group="vip-views", models=["t-views"])
    prices = get(stack, who.key, "/api/pricing").json()
    assert prices["group"] == "vip-views" and prices["ratio"] == "0.8"
    (entry,) = [m for m in prices["data"] if m["model"].startswith("t-views")]  # the allow-list hides the other
    assert entry["model"] == "t-views"
    assert Decimal(entry["per_million_tokens"]["input"]) == Decimal("0.8")
    assert Decimal(entry["per_million_tokens"]["output"]) == Decimal("3.2")
    client = stack.client(who.key)
    assert client.models.retrieve("t-views").id == "t-views"
    assert get(stack, who.key, "/v1/models/t-views-other").status_code == 404
    assert "t-views-other" not in {m.id for m in client.models.list()}
    reply = client.chat.completions.create(
        model="t-views", messages=[{"role": "user", "content": "x [[prompt=1000]] [[len=10]]"}], max_tokens=20
    )
    assert reply.usage is not None
    (record,) = stack.wait_records(who.account_id, 1)
    assert record["charge"] == int((1000 + 10 * 4) * Decimal("0.8"))


def test_a_markup_is_priced_shown_and_recorded_with_the_group_ratio(stack: LocalStack, mock: MockServer) -> None:
    """price markup-set: the list price × markup × group ratio, rounded up once; shown in /api/pricing
    (also under /v1) and in the record's price_basis."""
    stack.admin("group.set", name="vip-markup", ratio="0.7")
    stack.channel(["t-markup"], mock.base_url, groups=["vip-markup"])
    set_ = stack.admin("price.markup-set", pattern="t-mark*", multiplier="2.5", note="test")
    try:
        assert "t-markup" in set_["models"]
        who = stack.customer(group="vip-markup")
        prices = get(stack, who.key, "/v1/api/pricing").json()
        (entry,) = [m for m in prices["data"] if m["model"] == "t-markup"]
        assert entry["markup"] == "2.5"
        assert Decimal(entry["per_million_tokens"]["input"]) == Decimal("1.75")  # 1.00 × 2.5 × 0.7
        reply = stack.client(who.key).chat.completions.create(
            model="t-markup", messages=[{"role": "user", "content": "x [[prompt=1001]] [[len=10]]"}], max_tokens=20
        )
        assert reply.usage is not None and reply.usage.prompt_tokens == 1001
        (record,) = stack.wait_records(who.account_id, 1)
        # (1001 × 1 + 10 × 4) µUSD × 2.5 × 0.7 = 1821.75 → 1822, rounded up once at the end (rounding the
        # marked-up price first would give ceil(2602.5) × 0.7 = 1822.1 → 1823).
        assert record["charge"] == 1822
        assert record["price_basis"] == {"markup": "2.5", "ratio": "0.7"}
        logs = get(stack, who.key, "/v1/api/usage/logs").json()["data"]
        assert logs[0]["price_basis"] == {"markup": "2.5", "ratio": "0.7"}
    finally:
        stack.admin("price.markup-remove", pattern="t-mark*")


def test_unsupported_apis_answer_a_clear_404(stack: LocalStack) -> None:
    who = stack.customer()
    for path in ("/v1/files", "/v1/batches", "/v1/realtime/sessions", "/v1/conversations"):
        with httpx.Client(timeout=30) as http:
            response = http.post(f"{stack.url}{path}", headers={"Authorization": f"Bearer {who.key}"})
        assert response.status_code == 404
        assert "not supported by this relay" in response.json()["error"]["message"]
    compact = httpx.post(
        f"{stack.url}/v1/responses/compact", json={"model": "t-resp"}, headers={"Authorization": f"Bearer {who.key}"}
    )
    assert compact.status_code == 404 and "not supported" in compact.json()["error"]["message"]
